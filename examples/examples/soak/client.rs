//! A small HTTP/1.1 client for the soak run: one kept-alive connection per
//! worker, and scrapes of the `/metrics` endpoint.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a request may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A connection kept between requests.
pub type Connection = Option<BufReader<TcpStream>>;

fn connect(address: SocketAddr) -> io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect_timeout(&address, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(BufReader::new(stream))
}

/// `GET path` on `connection` (opened when there is none, dropped after an
/// error); the status code and the body.
pub fn get(
    connection: &mut Connection,
    address: SocketAddr,
    path: &str,
) -> io::Result<(u16, String)> {
    let reader = match connection {
        Some(reader) => reader,
        None => connection.insert(connect(address)?),
    };
    let answer = exchange(reader, address, path, true);
    if answer.is_err() {
        *connection = None;
    }
    answer
}

/// The body of `GET /metrics` on a connection of its own.
pub fn scrape(address: SocketAddr) -> io::Result<String> {
    let mut reader = connect(address)?;
    let (status, body) = exchange(&mut reader, address, "/metrics", false)?;
    if status == 200 {
        Ok(body)
    } else {
        Err(io::Error::other(format!("/metrics answered {status}")))
    }
}

fn exchange(
    reader: &mut BufReader<TcpStream>,
    address: SocketAddr,
    path: &str,
    keep_alive: bool,
) -> io::Result<(u16, String)> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    write!(
        reader.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: {connection}\r\n\r\n"
    )?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP status line: {line:?}")))?;
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = Vec::new();
    match length {
        Some(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body)?;
        }
        None if !keep_alive => {
            reader.read_to_end(&mut body)?;
        }
        None => return Err(io::Error::other("an answer without Content-Length")),
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
