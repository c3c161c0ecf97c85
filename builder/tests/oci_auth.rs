//! Authentication: basic auth against a real registry (htpasswd), and the
//! bearer token flow against a small token server written here.

mod oci_support;

use builder::oci::NoProgress;
use builder::oci::registry::auth::Credentials;
use builder::oci::registry::{Client, ClientOptions, PushOptions, Transport, login, pull, push};
use oci_support::registry::Registry;
use oci_support::{FakeStore, fake_http};

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

/// `/v2/` needs `Bearer tok-123`; `/token` hands it out for basic `me:pw`.
fn token_server() -> u16 {
    let (port, _) = fake_http::serve(|req, port| {
        if req.path.starts_with("/token") {
            // base64("me:pw") = bWU6cHc=
            if req.auth == "Basic bWU6cHc=" && req.path.contains("service=fake") {
                ("200 OK", String::new(), r#"{"token":"tok-123"}"#.into())
            } else {
                ("401 Unauthorized", String::new(), "{}".into())
            }
        } else if req.auth == "Bearer tok-123" {
            ("200 OK", String::new(), "{}".into())
        } else {
            (
                "401 Unauthorized",
                format!(
                    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"\r\n"
                ),
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                    .into(),
            )
        }
    });
    port
}

#[test]
fn bearer_token_flow_uses_basic_credentials_at_the_realm() {
    let port = token_server();
    let host = format!("127.0.0.1:{port}");
    // A plain-HTTP loopback server: the HTTPS probes fail, HTTP is used.
    let client = Client::new(&host, &host, &ClientOptions::default()).expect("client");
    assert_eq!(client.transport, Transport::Http);
    login(&host, &creds("me", "pw")).expect("token login");
    let err = login(&host, &creds("me", "bad")).expect_err("bad password");
    assert!(err.to_string().contains("unauthorized"), "{err}");
}

#[test]
fn server_errors_are_retried_with_backoff_then_reported() {
    // Two 503s, then success: login goes through on the third attempt.
    let count = std::sync::atomic::AtomicUsize::new(0);
    let (port, seen) = fake_http::serve(move |_, _| {
        if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            ("503 Service Unavailable", String::new(), "{}".into())
        } else {
            ("200 OK", String::new(), "{}".into())
        }
    });
    login(&format!("127.0.0.1:{port}"), &ClientOptions::default()).expect("third attempt");
    assert_eq!(seen.lock().expect("log").len(), 3);

    // Always 500: the error says so after the retries.
    let (port, seen) = fake_http::serve(|_, _| {
        (
            "500 Internal Server Error",
            String::new(),
            r#"{"errors":[{"code":"UNKNOWN","message":"disk on fire"}]}"#.into(),
        )
    });
    let opts = ClientOptions {
        retries: Some(2),
        ..ClientOptions::default()
    };
    let err = login(&format!("127.0.0.1:{port}"), &opts).expect_err("500");
    let msg = err.to_string();
    assert!(msg.contains("500") && msg.contains("disk on fire"), "{msg}");
    assert_eq!(
        seen.lock().expect("log").len(),
        3,
        "one try and two retries"
    );
}

/// A CA and a server certificate for 127.0.0.1, made with openssl.
fn make_certs(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl missing");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=strata test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    ]);
}

#[test]
fn tls_registry_is_verified_with_its_ca_from_certs_d() {
    let certs = tempfile::tempdir().expect("tmp");
    make_certs(certs.path());
    let reg = Registry::start_with_tls(
        &certs.path().join("server.crt"),
        &certs.path().join("server.key"),
    );
    // Docker's layout: certs.d/<host:port>/ca.crt
    let certs_d = certs.path().join("certs.d");
    std::fs::create_dir_all(certs_d.join(reg.host())).expect("mkdir");
    std::fs::copy(
        certs.path().join("ca.crt"),
        certs_d.join(reg.host()).join("ca.crt"),
    )
    .expect("ca");
    let trusted = ClientOptions {
        certs_dir: Some(certs_d.clone()),
        ..ClientOptions::default()
    };
    let client = Client::new(&reg.host(), &reg.host(), &trusted).expect("client");
    assert_eq!(client.transport, Transport::Https);
    assert!(client.base.starts_with("https://"));

    let name = format!("{}/secure/app:1", reg.host());
    let store = FakeStore::new();
    let id = store.add_test_image(
        &name,
        &[oci_support::layer_tar(&oci_support::busybox_tree())],
    );
    let opts = PushOptions {
        client: trusted.clone(),
        ..PushOptions::default()
    };
    push(&store, &name, &opts, &NoProgress).expect("push over TLS");
    let fresh = FakeStore::new();
    assert_eq!(
        pull(&fresh, &name, &trusted, &NoProgress)
            .expect("pull over TLS")
            .id,
        id
    );

    // Without the CA, a loopback registry is still reached over HTTPS,
    // unverified, as Docker does for insecure registries.
    let untrusted = ClientOptions {
        certs_dir: Some(certs.path().join("empty")),
        ..ClientOptions::default()
    };
    let client = Client::new(&reg.host(), &reg.host(), &untrusted).expect("client");
    assert_eq!(client.transport, Transport::HttpsUnverified);
    let fresh = FakeStore::new();
    assert_eq!(
        pull(&fresh, &name, &untrusted, &NoProgress)
            .expect("pull")
            .id,
        id
    );
}
