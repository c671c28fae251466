//! A minimal HTTP/1.1 server on 127.0.0.1 for download tests.
//!
//! Written by hand instead of using a server crate because the tests need byte-level control of
//! the response: a `Content-Length` larger than the body, or a body without any length, which a
//! conforming server library does not send.

#![allow(
    dead_code,
    reason = "each test binary that includes this file uses a different part"
)]
#![allow(
    unreachable_pub,
    reason = "the unit tests include this file as a private module"
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// A server that sends a fixed raw response for each known request path, and 404 otherwise.
///
/// The accept loop runs on a detached thread for the rest of the test process.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    requests: Receiver<String>,
}

impl TestServer {
    /// Binds 127.0.0.1 on a free port and serves `routes` (request path to raw response bytes).
    pub fn start(routes: Vec<(String, Vec<u8>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let routes: HashMap<String, Vec<u8>> = routes.into_iter().collect();
        let (sender, requests) = channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => serve_one(stream, &routes, &sender),
                    Err(_) => return,
                }
            }
        });
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            requests,
        }
    }

    /// Request paths received so far, in order.
    pub fn requested_paths(&self) -> Vec<String> {
        self.requests.try_iter().collect()
    }
}

/// Reads one request, sends the matching response and closes the connection.
fn serve_one(mut stream: TcpStream, routes: &HashMap<String, Vec<u8>>, sender: &Sender<String>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    let _ = sender.send(path.clone());
    let not_found = response("404 Not Found", b"not found\n");
    let reply = routes.get(&path).unwrap_or(&not_found);
    let _ = stream.write_all(reply);
    let _ = stream.flush();
}

/// Builds a complete response with the given status line (`"200 OK"`) and body.
pub fn response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Builds a 200 response whose `Content-Length` is `extra` bytes larger than the body it sends.
pub fn truncated_response(body: &[u8], extra: usize) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len() + extra
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Builds a 200 response without `Content-Length`, so the body ends when the server closes.
pub fn unsized_response(body: &[u8]) -> Vec<u8> {
    let mut bytes = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    bytes.extend_from_slice(body);
    bytes
}
