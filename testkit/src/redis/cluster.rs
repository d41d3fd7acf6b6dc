//! A Redis Cluster of `redis-server` processes on loopback, made with `redis-cli --cluster
//! create` as an operator makes one.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{cli, RedisOptions, RedisServer};
use crate::{wait_until, Error};

/// How many masters (no replicas) and how long a silent master takes to count as failed
/// (Redis' default is 15 s).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub masters: usize,
    pub node_timeout: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            masters: 3,
            node_timeout: Duration::from_secs(15),
        }
    }
}

/// A Redis Cluster of masters on free loopback ports, killed on drop.
///
/// A watchdog shell also kills the servers (and removes their directories) once this process
/// is gone, so a cluster kept in a `static` (never dropped) does not outlive the test binary.
pub struct RedisCluster {
    /// The masters' ports, in the order they were started.
    pub ports: Vec<u16>,
    nodes: Vec<RedisServer>,
    watchdog: Option<Child>,
}

impl RedisCluster {
    /// Starts the servers, makes them one cluster and waits until every node knows the whole
    /// slot map.
    pub fn start(options: ClusterOptions) -> Result<Self, Error> {
        let node = RedisOptions::default().cluster_node(options.node_timeout);
        let nodes = (0..options.masters)
            .map(|_| RedisServer::start_with(node.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let watchdog = watchdog(&nodes);
        let cluster = Self {
            ports: nodes.iter().map(RedisServer::port).collect(),
            nodes,
            watchdog,
        };
        cluster.create()?;
        Ok(cluster)
    }

    /// The node URLs, as `redis.cluster_nodes` lists them.
    pub fn nodes(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// `LATCHKEY__REDIS__CLUSTER_NODES`: the nodes, comma-separated.
    pub fn nodes_env(&self) -> String {
        self.nodes().join(",")
    }

    /// Kills master `index` for good (no replica takes over).
    pub fn stop_node(&mut self, index: usize) {
        if let Some(node) = self.nodes.get_mut(index) {
            node.stop();
        }
    }

    /// Every key matching `pattern`, per master (SCAN is per node).
    pub fn keys_by_node(&self, pattern: &str) -> Result<BTreeMap<u16, Vec<String>>, Error> {
        self.ports
            .iter()
            .map(|port| {
                let keys = cli(*port, &["--scan", "--pattern", pattern])?;
                Ok((*port, keys.lines().map(str::to_owned).collect()))
            })
            .collect()
    }

    fn create(&self) -> Result<(), Error> {
        let addresses: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let create = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Error::new(format!("redis-cli does not run (Debian: redis-tools): {e}"))
            })?;
        if !create.status.success() {
            return Err(Error::new(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&create.stdout),
                String::from_utf8_lossy(&create.stderr)
            )));
        }
        let masters = self.ports.len();
        for port in &self.ports {
            let mut failure = None;
            wait_until(&format!("cluster_state:ok on port {port}"), || {
                match cli(*port, &["CLUSTER", "INFO"]) {
                    Ok(info) => {
                        info.contains("cluster_state:ok")
                            && info.contains("cluster_slots_ok:16384")
                            && info.contains(&format!("cluster_known_nodes:{masters}"))
                    }
                    Err(e) => {
                        failure = Some(e);
                        true
                    }
                }
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// A shell that waits for this process to end, then kills the nodes and removes their
/// directories. `None` when no shell could be started (the nodes then die with their
/// `RedisServer`s only).
fn watchdog(nodes: &[RedisServer]) -> Option<Child> {
    let pids: Vec<String> = nodes
        .iter()
        .filter_map(RedisServer::pid)
        .map(|pid| pid.to_string())
        .collect();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(
            r#"parent=$1; count=$2; shift 2
               while kill -0 "$parent" 2>/dev/null; do sleep 1; done
               pids=""; i=0
               for arg in "$@"; do
                 if [ "$i" -lt "$count" ]; then pids="$pids $arg"; else dirs="$dirs $arg"; fi
                 i=$((i + 1))
               done
               kill $pids 2>/dev/null; sleep 1; rm -rf $dirs"#,
        )
        .arg("cluster-watchdog")
        .arg(std::process::id().to_string())
        .arg(pids.len().to_string())
        .args(&pids)
        .args(nodes.iter().map(RedisServer::dir))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn().ok()
}
