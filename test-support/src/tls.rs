//! A test CA with server and client certificates (rcgen), and a
//! TLS-terminating proxy (`tls_proxy.py`) in front of a plain port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::peers::{Peer, peer_bin, temp_dir};

/// PEM files of a test CA, a server certificate for `localhost` and
/// `127.0.0.1`, a client certificate, and an unrelated CA, made by [`pki`].
#[derive(Debug)]
pub struct Pki {
    /// The folder that holds the files.
    pub dir: PathBuf,
    /// The test CA's certificate.
    pub ca: PathBuf,
    /// The server's certificate, signed by the test CA.
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// The client's certificate, signed by the test CA.
    pub client_cert: PathBuf,
    /// The client's private key.
    pub client_key: PathBuf,
    /// The certificate of a CA that signed nothing here.
    pub other_ca: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a key")).expect("a CA")
}

/// Generates the files in a fresh directory.
///
/// # Panics
///
/// When a key, a certificate or a file cannot be made.
pub fn pki() -> Pki {
    let dir = temp_dir("pki");
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a PEM file");
        path
    };
    let authority = ca("autotel test CA");
    let server_key = KeyPair::generate().expect("a key");
    let mut server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server parameters");
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_cert = server
        .signed_by(&server_key, &authority)
        .expect("a server certificate");
    let client_key = KeyPair::generate().expect("a key");
    let mut client = CertificateParams::new(Vec::<String>::new()).expect("client parameters");
    client
        .distinguished_name
        .push(DnType::CommonName, "autotel test client");
    let client_cert = client
        .signed_by(&client_key, &authority)
        .expect("a client certificate");
    let other = ca("some other CA");
    Pki {
        ca: write("ca.pem", authority.pem()),
        server_cert: write("server.pem", server_cert.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        client_cert: write("client.pem", client_cert.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
        other_ca: write("other-ca.pem", other.pem()),
        dir,
    }
}

/// `tls_proxy.py` terminating TLS on a free loopback port and forwarding
/// to a plain one.
#[derive(Debug)]
pub struct TlsProxy {
    /// The proxy's process.
    pub peer: Peer,
    /// The port where it accepts TLS.
    pub port: u16,
}

impl TlsProxy {
    /// Starts the proxy in front of `target`, with the Python of the test
    /// agent's environment; `None` when the agent is not installed (skipped).
    /// With `require_client_certificate`, only clients with a certificate of
    /// the test CA get through.
    ///
    /// # Panics
    ///
    /// When the proxy does not start listening.
    pub fn start(pki: &Pki, target: SocketAddr, require_client_certificate: bool) -> Option<Self> {
        let agent = peer_bin("AUTOTEL_TEST_AGENT_BIN")?;
        let python = agent
            .parent()
            .map(|bin| bin.join("python3"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("python3"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tls_proxy.py");
        let mut args = vec![
            script.display().to_string(),
            pki.server_cert.display().to_string(),
            pki.server_key.display().to_string(),
            target.port().to_string(),
        ];
        if require_client_certificate {
            args.push(pki.ca.display().to_string());
        }
        let mut peer = Peer::start("tls-proxy", &python, &args);
        let log = peer.dir().join("stdout.log");
        let port = peer.wait_for("the TLS proxy to listen", || {
            std::fs::read_to_string(&log)
                .ok()?
                .lines()
                .find_map(|line| line.strip_prefix("listening ")?.trim().parse::<u16>().ok())
        });
        Some(Self { peer, port })
    }
}
