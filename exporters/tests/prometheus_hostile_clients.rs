//! Clients that misbehave on purpose cannot stall the `/metrics` endpoint or
//! grow its memory: slow senders and readers are cut off, an oversized or endless request
//! head is refused early, connections past the cap are closed and counted,
//! and a scrape succeeds during and after each of them.
#![cfg(feature = "prometheus")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use autotel_exporters::prometheus::Prometheus;
use autotel_test_support::scrape::{
    closed_by_server, endpoint, read_response, sample, scrape, scrape_until,
};

/// Series of the counters of refused scrapes.
const CONNECTION_LIMIT: &str =
    r#"autotel_dropped_total{signal="scrape",reason="connection_limit"}"#;
const HEAD_TOO_LARGE: &str =
    r#"autotel_dropped_total{signal="scrape",reason="request_head_too_large"}"#;

#[test]
fn fifty_clients_trickling_bytes_do_not_stall_scrapes_and_are_cut_off() {
    const TRICKLERS: usize = 50;
    let (_recorder, _server, address) = endpoint(Prometheus::new());
    let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n\r\n";
    let mut tricklers: Vec<TcpStream> = (0..TRICKLERS)
        .map(|_| TcpStream::connect(address).expect("a trickling connection"))
        .collect();
    let start = Instant::now();
    let mut sent = 0;
    let mut scrapes = 0;
    // One byte every 2 s on each connection; the default header-read timeout
    // (10 s) must close every one of them, well within a minute.
    loop {
        let mut open = 0;
        for stream in &mut tricklers {
            if !closed_by_server(stream) && stream.write_all(&request[sent..=sent]).is_ok() {
                open += 1;
            }
        }
        sent = (sent + 1).min(request.len() - 2);
        // Scrapes succeed while the slow clients hold their connections.
        scrape(address);
        scrapes += 1;
        if open == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{open} slow clients still connected after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        scrapes >= 3,
        "the slow clients were cut off before scrapes ran beside them"
    );
    scrape(address);
}

#[test]
fn a_request_head_of_one_mebibyte_is_refused() {
    let (_recorder, _server, address) = endpoint(Prometheus::new());
    let stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let mut head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    head.resize(head.len() + 1024 * 1024, b'a');
    head.extend_from_slice(b"\r\n\r\n");
    let writer = {
        let stream = stream.try_clone().expect("clone the stream");
        std::thread::spawn(move || (&stream).write_all(&head))
    };
    // The server answers 431 and closes, or closes before the answer gets
    // through; either way the big head is never served.
    match read_response(&mut BufReader::new(&stream)) {
        Ok(response) => assert_eq!(response.status, 431),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the server neither answered nor closed: {e}"
        ),
    }
    drop(stream);
    let _ = writer.join().expect("the writer thread");
    scrape_until(address, |text| sample(text, HEAD_TOO_LARGE) == Some(1.0));
}

#[test]
fn an_endless_request_line_is_cut_off_long_before_its_end() {
    const TOTAL: usize = 64 * 1024 * 1024;
    let (_recorder, _server, address) = endpoint(Prometheus::new());
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .expect("a write timeout");
    stream.write_all(b"GET /").expect("the start of a request");
    let chunk = vec![b'a'; 64 * 1024];
    let mut written = 0;
    let refused = loop {
        if written >= TOTAL {
            break None;
        }
        match stream.write(&chunk) {
            Ok(n) => written += n,
            Err(e) => break Some(e),
        }
    };
    // The endpoint reads at most 16 KiB of head; what got through before the
    // write failed sat in the two sockets' buffers, not in the server.
    let error = refused.expect("the server closed the connection before 64 MiB");
    assert!(
        !matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "the server stopped reading without closing: {error}"
    );
    assert!(
        written < 16 * 1024 * 1024,
        "{written} bytes were accepted before the connection closed"
    );
    scrape_until(address, |text| sample(text, HEAD_TOO_LARGE) == Some(1.0));
}

#[test]
fn connections_past_the_cap_are_closed_at_once_and_counted() {
    let builder = Prometheus::new()
        .with_max_connections(2)
        .expect("a usable cap")
        .with_header_read_timeout(Duration::from_secs(30))
        .expect("a usable timeout");
    let (_recorder, _server, address) = endpoint(builder);
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(address).expect("a connection under the cap"))
        .collect();
    // Let the server take both before the one past the cap arrives.
    std::thread::sleep(Duration::from_millis(500));
    let extra = TcpStream::connect(address).expect("the kernel accepts the connection");
    let start = Instant::now();
    while !closed_by_server(&extra) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a connection past the cap stayed open"
        );
    }
    assert!(
        held.iter().all(|stream| !closed_by_server(stream)),
        "the connections under the cap were closed"
    );
    drop(held);
    let text = scrape_until(address, |text| {
        sample(text, CONNECTION_LIMIT).is_some_and(|n| n >= 1.0)
    });
    assert_eq!(sample(&text, HEAD_TOO_LARGE), Some(0.0), "{text}");
}

#[test]
fn an_idle_connection_is_closed_after_the_header_read_timeout() {
    let builder = Prometheus::new()
        .with_header_read_timeout(Duration::from_secs(1))
        .expect("a usable timeout");
    let (_recorder, _server, address) = endpoint(builder);
    let idle = TcpStream::connect(address).expect("connect");
    // A kept-alive connection after one answer is idle too.
    let kept = TcpStream::connect(address).expect("connect");
    write!(&kept, "GET /metrics HTTP/1.1\r\nHost: {address}\r\n\r\n").expect("send");
    kept.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let answer = read_response(&mut BufReader::new(&kept)).expect("an answer");
    assert_eq!(answer.status, 200);
    let start = Instant::now();
    while !(closed_by_server(&idle) && closed_by_server(&kept)) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "an idle connection stayed open"
        );
    }
    scrape(address);
}

#[test]
fn a_client_that_never_reads_its_answer_is_cut_off_at_the_connection_age() {
    // A scrape of about 12 MB: more than the two sockets' buffers hold, so
    // the server's write waits on the client.
    let builder = Prometheus::new()
        .with_max_connection_age(Duration::from_secs(2))
        .expect("a usable age")
        .with_header_read_timeout(Duration::from_secs(1))
        .expect("a usable timeout");
    let (recorder, _server, address) = endpoint(builder);
    let padding = "x".repeat(200);
    metrics::with_local_recorder(&recorder, || {
        for i in 0..60_000 {
            metrics::counter!("bulk_total", "key" => format!("{padding}{i}")).increment(1);
        }
    });
    let stream = TcpStream::connect(address).expect("connect");
    write!(&stream, "GET /metrics HTTP/1.1\r\nHost: {address}\r\n\r\n").expect("send");
    // Wait for the head of the answer, however long rendering takes on a
    // loaded machine, so that the server is writing the body from here on.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a read timeout");
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    let mut length = None;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).expect("the head of the answer");
        assert!(read > 0, "closed within the head");
        if line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length = length.expect("a Content-Length");
    // Then read nothing past the connection age and the grace after it.
    std::thread::sleep(Duration::from_secs(6));
    let mut body = vec![0; length];
    match reader.read_exact(&mut body) {
        Ok(()) => panic!("the whole answer ({length} bytes) waited for the slow reader"),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the server neither finished nor closed: {e}"
        ),
    }
    scrape(address);
}
