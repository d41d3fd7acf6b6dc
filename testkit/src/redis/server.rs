//! One `redis-server` of a test's own.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, Error};

/// How long a starting server may take to answer `PING`.
const START_LIMIT: Duration = Duration::from_secs(30);

/// The certificate files of a TLS port (`--tls-cert-file`, `--tls-key-file`,
/// `--tls-ca-cert-file`). Clients are not asked for certificates.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// What kind of `redis-server` to start; the default is a plain one.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    tls: Option<TlsFiles>,
    acl_user: Option<(String, String)>,
    cluster_node_timeout: Option<Duration>,
    cpu: Option<String>,
    args: Vec<String>,
}

impl RedisOptions {
    /// A TLS port besides the plain one, both on loopback and serving the same data: the test
    /// arranges through the plain port, the code under test connects over TLS.
    pub fn tls(mut self, files: TlsFiles) -> Self {
        self.tls = Some(files);
        self
    }

    /// An ACL user `name` with `password` and every permission (`~* &* +@all`), besides the
    /// default user: for tests that take one permission away from the application's user.
    pub fn acl_user(mut self, name: &str, password: &str) -> Self {
        self.acl_user = Some((name.to_owned(), password.to_owned()));
        self
    }

    /// A cluster node (`--cluster-enabled yes`) on a port whose bus port (port + 10000) is free
    /// too; `node_timeout` is how long a silent master takes to count as failed.
    pub fn cluster_node(mut self, node_timeout: Duration) -> Self {
        self.cluster_node_timeout = Some(node_timeout);
        self
    }

    /// Runs the server under `taskset -c <cpu>` (the bench's pinned layout).
    pub fn cpu(mut self, cpu: &str) -> Self {
        self.cpu = Some(cpu.to_owned());
        self
    }

    /// More `redis-server` arguments, after the launcher's own (a later one wins).
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}

/// A `redis-server` on free loopback ports, killed when dropped. It can be stopped and started
/// again on the same port, with the same options (its data is gone then: nothing persists).
pub struct RedisServer {
    port: u16,
    tls_port: Option<u16>,
    options: RedisOptions,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A plain server.
    pub fn start() -> Result<Self, Error> {
        Self::start_with(RedisOptions::default())
    }

    pub fn start_with(options: RedisOptions) -> Result<Self, Error> {
        let port = match options.cluster_node_timeout {
            Some(_) => free_port_with_free_bus()?,
            None => free_port()?,
        };
        let tls_port = options.tls.as_ref().map(|_| free_port()).transpose()?;
        let dir = tempfile::Builder::new()
            .prefix("testkit-redis-")
            .tempdir()
            .map_err(|e| Error::new(format!("no temporary directory for redis-server: {e}")))?;
        let mut server = Self {
            port,
            tls_port,
            options,
            child: None,
            dir,
        };
        server.restart()?;
        Ok(server)
    }

    /// The plain port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS port, when the options asked for one.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `redis://127.0.0.1:<port>`, as the default user.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis://<user>:<password>@127.0.0.1:<port>`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("redis://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// `rediss://localhost:<tls port>`: the host a test certificate names.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port
            .map(|port| format!("rediss://localhost:{port}"))
    }

    /// The extra arguments the options added.
    pub fn extra_args(&self) -> &[String] {
        &self.options.args
    }

    /// The directory the server writes its log and files in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the server (again, after [`stop`](Self::stop)) on its ports and waits until it
    /// answers.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.stop();
        let stderr = File::create(self.dir.path().join("stderr.log"))
            .map_err(|e| Error::new(format!("cannot create redis-server's stderr log: {e}")))?;
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                Error::new(format!(
                    "redis-server does not start ({e}); is it installed (Debian: redis-server, \
                     see .ci/run)?"
                ))
            })?;
        self.child = Some(child);
        self.wait_until_it_answers()
    }

    /// Kills the server and waits for it to exit; nothing when it is not running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the server answers `PING` with `PONG` on its plain port.
    pub fn answers(&self) -> bool {
        pong(self.port).unwrap_or(false)
    }

    fn command(&self) -> Command {
        let mut cmd = match &self.options.cpu {
            Some(cpu) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", cpu, "redis-server"]);
                cmd
            }
            None => Command::new("redis-server"),
        };
        let dir = self.dir.path();
        cmd.args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"));
        if let (Some(files), Some(port)) = (&self.options.tls, self.tls_port) {
            cmd.args(["--tls-port", &port.to_string()])
                .arg("--tls-cert-file")
                .arg(&files.cert)
                .arg("--tls-key-file")
                .arg(&files.key)
                .arg("--tls-ca-cert-file")
                .arg(&files.ca)
                .args(["--tls-auth-clients", "no"]);
        }
        if let Some((name, password)) = &self.options.acl_user {
            cmd.args([
                "--user",
                name,
                "on",
                &format!(">{password}"),
                "~*",
                "&*",
                "+@all",
            ]);
        }
        if let Some(timeout) = self.options.cluster_node_timeout {
            cmd.args(["--cluster-enabled", "yes"])
                .args(["--cluster-node-timeout", &timeout.as_millis().to_string()])
                .arg("--cluster-config-file")
                .arg(dir.join("nodes.conf"));
        }
        cmd.args(&self.options.args);
        cmd
    }

    fn wait_until_it_answers(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if self.answers() {
                return Ok(());
            }
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Err(e)) => Some(e.to_string()),
                _ => None,
            };
            if let Some(status) = exited {
                self.child = None;
                return Err(self.failure(&format!("exited at start ({status})")));
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!("does not answer within {START_LIMIT:?}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An error naming the port, with the end of the server's log and stderr.
    fn failure(&self, what: &str) -> Error {
        let mut message = format!("redis-server on port {} {what}", self.port);
        for name in ["stderr.log", "redis.log"] {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(10)..];
            if !tail.is_empty() {
                message.push_str(&format!("\n{name}:\n{}", tail.join("\n")));
            }
        }
        Error::new(message)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `PING` over a plain socket: `+PONG` means the server is ready for commands.
fn pong(port: u16) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(b"PING\r\n")?;
    let mut reply = [0u8; 5];
    stream.read_exact(&mut reply)?;
    Ok(&reply == b"+PONG")
}

/// A free loopback port whose cluster bus port (port + 10000) is free too.
fn free_port_with_free_bus() -> Result<u16, Error> {
    for _ in 0..100 {
        let port = free_port()?;
        let bus_free =
            port <= 55_535 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok();
        if bus_free {
            return Ok(port);
        }
    }
    Err(Error::new(
        "no free loopback port with a free cluster bus port",
    ))
}
