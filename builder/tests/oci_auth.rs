//! Authentication: basic auth against a real registry (htpasswd), and the
//! bearer token flow against a small token server written here.

mod oci_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use builder::oci::NoProgress;
use builder::oci::registry::auth::Credentials;
use builder::oci::registry::{ClientOptions, PushOptions, login, pull, push};
use oci_support::FakeStore;
use oci_support::registry::Registry;

fn creds(user: &str, password: &str) -> ClientOptions {
    ClientOptions {
        credentials: Some(Credentials {
            username: user.into(),
            password: password.into(),
        }),
        ..ClientOptions::default()
    }
}

#[test]
fn basic_auth_registry_refuses_anonymous_and_accepts_credentials() {
    let reg = Registry::start_with_htpasswd("alice", "s3cret");
    let name = format!("{}/private/app:1", reg.host());
    let store = FakeStore::new();
    let id = store.add_test_image(
        &name,
        &[oci_support::layer_tar(&oci_support::busybox_tree())],
    );

    let anonymous = PushOptions::default();
    let err = push(&store, &name, &anonymous, &NoProgress).expect_err("anonymous push");
    let msg = err.to_string();
    assert!(
        msg.contains("unauthorized") && msg.contains("strata login"),
        "{msg}"
    );
    let wrong = PushOptions {
        client: creds("alice", "nope"),
        ..PushOptions::default()
    };
    assert!(push(&store, &name, &wrong, &NoProgress).is_err());
    assert!(login(&reg.host(), &creds("alice", "nope")).is_err());

    login(&reg.host(), &creds("alice", "s3cret")).expect("login");
    let good = PushOptions {
        client: creds("alice", "s3cret"),
        ..PushOptions::default()
    };
    push(&store, &name, &good, &NoProgress).expect("push with credentials");
    let fresh = FakeStore::new();
    let pulled = pull(&fresh, &name, &creds("alice", "s3cret"), &NoProgress).expect("pull");
    assert_eq!(pulled.id, id);
}

/// Serves `/v2/` (needs `Bearer tok-123`) and `/token` (needs basic
/// `me:pw`), one connection at a time, `Connection: close`.
fn token_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("authorization")
                {
                    auth = v.trim().to_string();
                }
            }
            let path = request.split(' ').nth(1).unwrap_or("");
            let (status, extra, body) = if path.starts_with("/token") {
                // base64("me:pw") = bWU6cHc=
                if auth == "Basic bWU6cHc=" && path.contains("service=fake") {
                    ("200 OK", String::new(), r#"{"token":"tok-123"}"#)
                } else {
                    ("401 Unauthorized", String::new(), "{}")
                }
            } else if auth == "Bearer tok-123" {
                ("200 OK", String::new(), "{}")
            } else {
                (
                    "401 Unauthorized",
                    format!(
                        "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"\r\n"
                    ),
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn bearer_token_flow_uses_basic_credentials_at_the_realm() {
    let port = token_server();
    let host = format!("127.0.0.1:{port}");
    login(&host, &creds("me", "pw")).expect("token login");
    let err = login(&host, &creds("me", "bad")).expect_err("bad password");
    assert!(err.to_string().contains("unauthorized"), "{err}");
}
