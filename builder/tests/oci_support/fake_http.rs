//! A tiny HTTP/1.1 server for protocol cases a real registry will not
//! produce on demand (token realms, 5xx answers). One connection at a
//! time, `Connection: close`, plain HTTP only.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// What the handler sees: method, path with query, Authorization header.
pub struct Request {
    pub method: String,
    pub path: String,
    pub auth: String,
}

/// Status line, extra header lines (each ending in \r\n), body.
pub type Answer = (&'static str, String, String);

/// Starts the server; returns its port and the log of requests seen.
pub fn serve(
    handler: impl Fn(&Request, u16) -> Answer + Send + 'static,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            // A TLS hello (the HTTPS probe of a loopback registry): this
            // server speaks plain HTTP only, so hang up, as such a server
            // would fail the handshake.
            let mut first = [0u8; 1];
            if stream.peek(&mut first).is_ok_and(|n| n == 1) && first[0] == 0x16 {
                continue;
            }
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let mut parts = line.split(' ');
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.split_once(':')
                    && k.eq_ignore_ascii_case("authorization")
                {
                    auth = v.trim().to_string();
                }
            }
            let req = Request { method, path, auth };
            log.lock()
                .expect("log")
                .push(format!("{} {}", req.method, req.path));
            let (status, extra, body) = handler(&req, port);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}
