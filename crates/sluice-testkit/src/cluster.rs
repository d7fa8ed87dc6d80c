//! An ephemeral PostgreSQL cluster that lives exactly as long as the test process.
//!
//! The cluster is run by a small shell "guardian" whose standard input is a pipe from
//! this process. The guardian runs `initdb`, starts `postgres`, reports readiness on its
//! standard output, then waits for end-of-file on its input. Whatever ends the test
//! process — a clean exit, a panic, a kill — the kernel closes that pipe, and the
//! guardian shuts the server down (fast shutdown) and removes the directory. No Rust
//! destructor has to run for that, which matters because statics are never dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// Set this environment variable to `1` (or `true`) to skip `DATABASE_URL` and the local
/// server and always start an ephemeral cluster.
pub const EPHEMERAL_ENV: &str = "SLUICE_TESTKIT_EPHEMERAL";

/// How long the guardian waits for the new server to accept connections.
const READY_TIMEOUT_SECS: u32 = 60;

const GUARDIAN: &str = r#"
set -u
bindir=$1; port=$2; base=$3; tls=${4:-}
dir=$(mktemp -d "$base/sluice-testkit.XXXXXX") || { echo "failed: cannot create a directory under $base"; exit 1; }
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
if ! "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1; then
  echo "failed: initdb: $(tail -n 5 "$dir/initdb.log" | tr '\n' ' ')"; exit 1
fi
set --
if [ "$tls" = tls ]; then
  # A test certificate authority, and a server certificate it signed for "localhost".
  cd "$dir" || exit 1
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >server.ext
  if ! { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
           -subj /CN=sluice-testkit-ca -keyout ca.key -out ca.crt &&
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
           -subj /CN=localhost -keyout server.key -out server.csr &&
         openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
           -extfile server.ext -out server.crt; } >"$dir/openssl.log" 2>&1; then
    echo "failed: openssl: $(tail -n 3 "$dir/openssl.log" | tr '\n' ' ')"; exit 1
  fi
  chmod 600 server.key
  set -- -c ssl=on -c ssl_cert_file="$dir/server.crt" -c ssl_key_file="$dir/server.key"
fi
"$bindir/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "$@" \
  >"$dir/postgres.log" 2>&1 &
pid=$!
tries=0
while :; do
  if ! kill -0 "$pid" 2>/dev/null; then
    pid=
    echo "failed: postgres exited: $(tail -n 5 "$dir/postgres.log" | tr '\n' ' ')"; exit 1
  fi
  if [ -f "$dir/data/postmaster.pid" ] && sed -n 8p "$dir/data/postmaster.pid" | grep -q ready; then
    break
  fi
  tries=$((tries + 1))
  if [ "$tries" -gt $((READY * 10)) ]; then
    echo "failed: postgres did not become ready: $(tail -n 5 "$dir/postgres.log" | tr '\n' ' ')"; exit 1
  fi
  sleep 0.1
done
echo "ready $dir"
# Block until the test process ends: its end closes our standard input.
cat >/dev/null
"#;

/// A running ephemeral cluster. Dropping it (or ending the process) stops the server.
#[derive(Debug)]
pub(crate) struct Cluster {
    port: u16,
    dir: PathBuf,
    // Holding the pipe open is what keeps the cluster alive.
    _stdin: ChildStdin,
    _guardian: Child,
}

impl Cluster {
    /// Starts a cluster on a free port and waits until it accepts connections.
    pub(crate) fn start() -> Result<Self, String> {
        Self::start_with(false)
    }

    /// Starts a cluster; with `tls`, one that accepts TLS with a certificate for
    /// `localhost` signed by a test authority (`ca.crt` in [`Cluster::dir`]).
    pub(crate) fn start_with(tls: bool) -> Result<Self, String> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let bindir =
            find_bindir(&path, Path::new(DEBIAN_ROOT)).ok_or_else(|| NO_BINARIES.to_owned())?;
        let mut last = String::new();
        // A free port can be taken between our check and the server's bind; try a few.
        for _ in 0..3 {
            let port = free_port().map_err(|e| format!("cannot find a free TCP port: {e}"))?;
            match Self::start_on(&bindir, port, tls) {
                Ok(cluster) => return Ok(cluster),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn start_on(bindir: &Path, port: u16, tls: bool) -> Result<Self, String> {
        let as_root = is_root();
        let base = if as_root {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let mut command = if as_root {
            // initdb refuses to run as root; runuser switches without asking for a password.
            let runuser = find_program("runuser").ok_or_else(|| {
                "running as root, and `runuser` (util-linux) is not installed to run the \
                 PostgreSQL binaries as the `postgres` user"
                    .to_owned()
            })?;
            let mut command = Command::new(runuser);
            command.args(["-u", "postgres", "--", "sh", "-c"]);
            command
        } else {
            let mut command = Command::new("sh");
            command.arg("-c");
            command
        };
        command
            .arg(GUARDIAN.replace("READY", &READY_TIMEOUT_SECS.to_string()))
            .arg("sluice-testkit")
            .arg(bindir)
            .arg(port.to_string())
            .arg(&base)
            .arg(if tls { "tls" } else { "" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guardian = command.spawn().map_err(|e| {
            let hint = if as_root {
                " (is there a `postgres` system user? Debian's postgresql package creates it)"
            } else {
                ""
            };
            format!("cannot start the ephemeral cluster's guardian: {e}{hint}")
        })?;
        let stdin = guardian
            .stdin
            .take()
            .ok_or_else(|| "the guardian has no standard input".to_owned())?;
        let stdout = guardian
            .stdout
            .take()
            .ok_or_else(|| "the guardian has no standard output".to_owned())?;
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let line = line.trim();
        match (read, line.strip_prefix("ready ")) {
            (Ok(_), Some(dir)) => Ok(Self {
                port,
                dir: PathBuf::from(dir),
                _stdin: stdin,
                _guardian: guardian,
            }),
            (Ok(_), None) => {
                let _ = guardian.wait();
                let reason = if line.is_empty() {
                    "the guardian exited without a word (was the `postgres` user able to run it?)"
                } else {
                    line
                };
                Err(format!(
                    "could not start an ephemeral cluster from {}: {reason}",
                    bindir.display()
                ))
            }
            (Err(e), _) => Err(format!("could not read from the guardian: {e}")),
        }
    }

    /// A connection string for the cluster's `postgres` database over TCP.
    pub(crate) fn connection_string(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=5",
            self.port
        )
    }

    /// The cluster's TCP port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the cluster's data and socket.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// True when `SLUICE_TESTKIT_EPHEMERAL` asks for an ephemeral cluster.
pub(crate) fn ephemeral_forced() -> bool {
    std::env::var(EPHEMERAL_ENV)
        .map(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// Where Debian installs each PostgreSQL version's binaries (`<root>/<major>/bin`).
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// What to do when there is no server and nothing to start one with.
const NO_BINARIES: &str = "DATABASE_URL is not set, nothing answers at 127.0.0.1:5432, and no \
     PostgreSQL binaries (initdb, postgres) were found on PATH or under \
     /usr/lib/postgresql/*/bin. Install PostgreSQL (Debian: `apt-get install postgresql`), \
     start a server on 127.0.0.1:5432, or set DATABASE_URL to a server where this role may \
     CREATE DATABASE.";

/// The directory holding both `initdb` and `postgres`: the one `initdb` on `path` lives
/// in, else the newest `<debian_root>/<major>/bin`.
fn find_bindir(path: &std::ffi::OsStr, debian_root: &Path) -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let on_path = std::env::split_paths(path)
        .map(|dir| dir.join("initdb"))
        .find(|candidate| candidate.is_file());
    if let Some(initdb) = on_path {
        // Debian links /usr/local/bin/initdb and friends to the versioned directory;
        // follow the link so the directory holds the server binary too.
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent().filter(|dir| has_both(dir)) {
            return Some(dir.to_path_buf());
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(debian_root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

pub(crate) fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_binaries_anywhere_means_none_and_a_message_that_says_what_to_do() {
        let empty =
            std::env::temp_dir().join(format!("sluice-testkit-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let found = find_bindir(empty.as_os_str(), &empty.join("no-such-root"));
        std::fs::remove_dir_all(&empty).unwrap();
        assert_eq!(found, None);
        for needle in [
            "apt-get install postgresql",
            "DATABASE_URL",
            "127.0.0.1:5432",
        ] {
            assert!(NO_BINARIES.contains(needle), "message lacks {needle}");
        }
    }

    #[test]
    fn the_newest_versioned_directory_wins_when_path_has_none() {
        let root = std::env::temp_dir().join(format!("sluice-testkit-root-{}", std::process::id()));
        for version in ["13", "16", "9"] {
            let bin = root.join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("initdb"), "").unwrap();
            std::fs::write(bin.join("postgres"), "").unwrap();
        }
        // A version directory missing the server binary does not count.
        std::fs::create_dir_all(root.join("17").join("bin")).unwrap();
        std::fs::write(root.join("17").join("bin").join("initdb"), "").unwrap();
        let found = find_bindir(std::ffi::OsStr::new(""), &root);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(found, Some(root.join("16").join("bin")));
    }
}
