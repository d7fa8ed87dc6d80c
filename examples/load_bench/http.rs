//! The HTTP rows of the bench (`--http`): `postgres_server --transport http` and each
//! `--compare` peer serving Streamable HTTP (a peer is started with `RMCP_HTTP=ADDR`, as
//! `bench/rmcp-baseline` understands it), N clients each sending stateless 2026-07-28
//! `tools/call`s one after another over keep-alive connections. With `--http-auth`,
//! Sluice's server signs its clients in with GitHub (the testkit's `fake-github`, one
//! sign-in through the consent page) and verifies a bearer token on every call.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use examples::http_client::{Process, sign_in, start, stateless_request, wait_until_listening};
use serde_json::json;

use crate::cases::Case;

/// One HTTP server under measurement.
pub(crate) struct HttpServer {
    process: Process,
    mcp: String,
    token: Option<String>,
    /// Keeps the fake GitHub alive while the server signs clients in with it.
    _github: Option<Process>,
}

/// `fake-github`, in the target directory above the examples'.
fn fake_github() -> PathBuf {
    let me = std::env::current_exe().unwrap();
    me.parent().unwrap().parent().unwrap().join("fake-github")
}

impl HttpServer {
    /// Sluice's `binary` over HTTP on `url`: unauthenticated on loopback (a fixed user),
    /// or, with `auth`, with GitHub sign-in and a token of its own.
    pub(crate) async fn sluice(binary: &Path, url: &str, sslmode: &str, auth: bool) -> Self {
        let port = examples::free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut args = vec![
            "--transport",
            "http",
            "--bind",
            &bind,
            "--database-url",
            url,
            "--pool-size",
            "16",
        ];
        let github = auth.then(|| {
            start(
                &fake_github(),
                &["bench-gh", "bench-gh-secret-0123456789", "42", "bench"],
                &[],
                "fake-github:",
            )
        });
        let github_url = github
            .as_ref()
            .map(|(_, line)| line.trim_start_matches("fake-github: ").to_owned());
        match &github_url {
            Some(github_url) => {
                args.extend(["--github-url", github_url, "--github-api-url", github_url]);
            }
            None => args.extend(["--user", "bench"]),
        }
        // The GitHub app's credentials only with sign-in: given them, the server turns
        // GitHub sign-in on, and an unauthenticated bench would get 401s.
        let mut envs = vec![("PGSSLMODE", sslmode)];
        if github.is_some() {
            envs.extend([
                ("GITHUB_CLIENT_ID", "bench-gh"),
                ("GITHUB_CLIENT_SECRET", "bench-gh-secret-0123456789"),
            ]);
        }
        let (process, _) = start(binary, &args, &envs, "serving PostgreSQL");
        let token = match github {
            Some(_) => Some(sign_in(&format!("http://127.0.0.1:{port}")).await),
            None => None,
        };
        HttpServer {
            process,
            mcp: format!("http://127.0.0.1:{port}/mcp"),
            token,
            _github: github.map(|(process, _)| process),
        }
    }

    /// A peer started with `RMCP_HTTP=127.0.0.1:PORT`, ready once it accepts.
    pub(crate) async fn peer(binary: &Path, url: &str) -> Self {
        let port = examples::free_port();
        let child = Command::new(binary)
            .env("RMCP_HTTP", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", url)
            .env("POOL_SIZE", "16")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let process = Process(child);
        wait_until_listening(port, &binary.display().to_string()).await;
        HttpServer {
            process,
            mcp: format!("http://127.0.0.1:{port}/mcp"),
            token: None,
            _github: None,
        }
    }

    /// `n` calls of `case` from `clients` clients: calls per second, and the CPU
    /// microseconds per call of the server and of the local PostgreSQL.
    pub(crate) async fn rate(&self, n: usize, clients: usize, case: Case) -> (f64, f64, f64) {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(clients)
            .build()
            .unwrap();
        let next = Arc::new(AtomicUsize::new(0));
        let pid = self.process.0.id();
        let cpu_before = examples::cpu_seconds(pid);
        let database_before = examples::postgres_cpu_seconds();
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (http, next) = (http.clone(), Arc::clone(&next));
                let (mcp, token) = (self.mcp.clone(), self.token.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        call(&http, &mcp, token.as_deref(), case, i).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = examples::cpu_seconds(pid) - cpu_before;
        let database = examples::postgres_cpu_seconds() - database_before;
        let per_call = |seconds: f64| seconds * 1e6 / n as f64;
        (n as f64 / elapsed, per_call(cpu), per_call(database))
    }
}

/// One stateless call; panics unless it answered a result that is not an error.
async fn call(http: &reqwest::Client, mcp: &str, token: Option<&str>, case: Case, i: usize) {
    let mut request = stateless_request(http, mcp, i, "queryDatabase", json!({"sql": case.sql(i)}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status();
    let text = answer.text().await.unwrap();
    assert!(
        status.is_success() && text.contains("\"result\"") && !text.contains("\"isError\":true"),
        "{status}: {text}"
    );
}
