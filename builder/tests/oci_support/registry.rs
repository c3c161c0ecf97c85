//! A real registry (Debian's `docker-registry`, CNCF distribution) on
//! 127.0.0.1 with its storage in a temp dir, killed by Drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Registry {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    config: PathBuf,
    log: PathBuf,
    keep: Vec<tempfile::TempDir>,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with_auth("")
    }

    /// A registry requiring basic auth for `user`:`password` (htpasswd
    /// file made with apache2-utils' `htpasswd -B`).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd missing: apt-get install apache2-utils");
        assert!(out.status.success());
        std::fs::write(&file, &out.stdout).expect("write htpasswd");
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n",
            file.display()
        );
        let mut r = Registry::start_with_auth(&auth);
        r.keep.push(dir);
        r
    }

    /// A registry serving HTTPS with `cert`/`key` (PEM files).
    pub fn start_with_tls(cert: &Path, key: &Path) -> Registry {
        let tls = format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert.display(),
            key.display()
        );
        Registry::start_with_auth(&tls)
    }

    /// `extra` is YAML appended right after `http.addr` (more `http:`
    /// keys indented by two, or new top-level sections).
    fn start_with_auth(auth: &str) -> Registry {
        let dir = tempfile::tempdir().expect("tmp");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let config = dir.path().join("config.yml");
        let storage = dir.path().join("storage");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}",
                storage.display()
            ),
        )
        .expect("config");
        let log = dir.path().join("registry.log");
        let mut r = Registry {
            child: None,
            port,
            dir,
            config,
            log,
            keep: Vec::new(),
        };
        r.restart();
        r
    }

    /// (Re)starts the server on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("docker-registry missing: apt-get install docker-registry");
        self.child = Some(child);
        // Wait until it accepts connections (or died: then fail loudly).
        for _ in 0..400 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("docker-registry exited with {status}: {}", self.log_text());
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("docker-registry did not start: {}", self.log_text());
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Access-log lines of requests with this method whose path contains `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        let needle = format!("\"{method} ");
        self.log_text()
            .lines()
            .filter(|l| l.contains(&needle) && l.contains(part))
            .count()
    }

    pub fn storage(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP proxy in front of a registry that can cut a response in the
/// middle: once armed, the connection that carries the byte at `cut_at`
/// (counted over responses since arming) is closed there; with `refuse`,
/// every later connection is closed at once until disarmed.
pub struct CuttingProxy {
    pub port: u16,
    state: std::sync::Arc<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    armed: std::sync::atomic::AtomicBool,
    refuse: std::sync::atomic::AtomicBool,
    refuse_after_cut: std::sync::atomic::AtomicBool,
    /// Which direction is cut: requests (true) or responses (false).
    upload: std::sync::atomic::AtomicBool,
    cut_at: std::sync::atomic::AtomicU64,
    seen: std::sync::atomic::AtomicU64,
    cuts: std::sync::atomic::AtomicUsize,
}

impl CuttingProxy {
    pub fn start(target: u16) -> CuttingProxy {
        use std::sync::atomic::Ordering::SeqCst;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = std::sync::Arc::new(ProxyState::default());
        let st = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if st.refuse.load(SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let up = st.clone();
                std::thread::spawn(move || pump(&c2, &s2, &up, true));
                let st = st.clone();
                std::thread::spawn(move || pump(&server, &client, &st, false));
            }
        });
        CuttingProxy { port, state }
    }

    /// Cuts the response stream `after` bytes from now; `refuse` keeps the
    /// proxy closed afterwards.
    pub fn arm(&self, after: u64, refuse_after: bool) {
        self.arm_direction(after, refuse_after, false);
    }

    /// Cuts the request stream (an upload) `after` bytes from now;
    /// `refuse` keeps the proxy closed afterwards.
    pub fn arm_upload(&self, after: u64, refuse_after: bool) {
        self.arm_direction(after, refuse_after, true);
    }

    fn arm_direction(&self, after: u64, refuse_after: bool, upload: bool) {
        use std::sync::atomic::Ordering::SeqCst;
        self.state.upload.store(upload, SeqCst);
        self.state.seen.store(0, SeqCst);
        self.state.cut_at.store(after, SeqCst);
        self.state.refuse.store(false, SeqCst);
        self.state.refuse_after_cut.store(refuse_after, SeqCst);
        self.state.armed.store(true, SeqCst);
    }

    pub fn heal(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.state.armed.store(false, SeqCst);
        self.state.refuse.store(false, SeqCst);
    }

    pub fn cuts(&self) -> usize {
        self.state.cuts.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Copies `from` to `to`; cuts both connections where the armed
/// direction reaches its byte count.
fn pump(from: &TcpStream, to: &TcpStream, st: &ProxyState, upload: bool) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering::SeqCst;
    let mut buf = [0u8; 16 << 10];
    let mut cut = false;
    while !cut {
        let n = match (&*from).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut send = n;
        if st.armed.load(SeqCst) && st.upload.load(SeqCst) == upload {
            let before = st.seen.fetch_add(n as u64, SeqCst);
            let at = st.cut_at.load(SeqCst);
            if before + n as u64 > at {
                send = at.saturating_sub(before) as usize;
                cut = true;
            }
        }
        if (&*to).write_all(&buf[..send]).is_err() {
            break;
        }
        if cut {
            st.armed.store(false, SeqCst);
            st.cuts.fetch_add(1, SeqCst);
            if st.refuse_after_cut.load(SeqCst) {
                st.refuse.store(true, SeqCst);
            }
        }
    }
    if upload && !cut {
        // The client finished sending: pass the half-close on.
        let _ = to.shutdown(std::net::Shutdown::Write);
    } else {
        let _ = to.shutdown(std::net::Shutdown::Both);
        let _ = from.shutdown(std::net::Shutdown::Both);
    }
}
