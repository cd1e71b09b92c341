//! What every example's `main` shares: logging, the port, and the line saying where it listens.

use std::path::PathBuf;
use tokio::net::TcpListener;

/// Starts logging to stderr (`RUST_LOG`, default `info`).
pub(crate) fn log() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Starts logging as [`log`] does, binds 127.0.0.1 on `PORT` (default 3000) and prints
/// `listening on SCHEME://127.0.0.1:PORT` once it accepts connections.
pub(crate) async fn listen(scheme: &str) -> std::io::Result<TcpListener> {
    log();
    bind(scheme).await
}

/// Binds 127.0.0.1 on `PORT` (default 3000) and prints `listening on SCHEME://127.0.0.1:PORT`.
pub(crate) async fn bind(scheme: &str) -> std::io::Result<TcpListener> {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000u16);
    let listener = zocket::listen(("127.0.0.1", port)).await?;
    println!("listening on {scheme}://127.0.0.1:{}", listener.local_addr()?.port());
    Ok(listener)
}

/// Resolves when the process gets ctrl-c.
pub(crate) async fn ctrl_c() {
    tokio::signal::ctrl_c().await.ok();
}

/// The whole `main` of a WebSocket example: listens as [`listen`] does and serves the server
/// `app` builds until ctrl-c, then shuts down gracefully.
pub(crate) fn serve<H, O, C, S>(app: fn() -> zocket::Server<H, O, C, S>) -> std::io::Result<()>
where
    H: serde::de::DeserializeOwned + garde::Validate + Send + 'static,
    H::Context: Default,
    O: zocket::Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    serve_on(tokio::runtime::Runtime::new()?, app)
}

/// [`serve`] on the given runtime.
pub(crate) fn serve_on<H, O, C, S>(
    runtime: tokio::runtime::Runtime,
    app: fn() -> zocket::Server<H, O, C, S>,
) -> std::io::Result<()>
where
    H: serde::de::DeserializeOwned + garde::Validate + Send + 'static,
    H::Context: Default,
    O: zocket::Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    runtime.block_on(async {
        log();
        let server = app();
        reach_the_cluster(&server.handle()).await;
        let listener = bind("ws").await?;
        zocket::serve(listener, server).with_graceful_shutdown(ctrl_c()).await
    })
}

/// In a cluster, waits (at most 10 s) until the node reaches the others, so that once it says
/// it listens, what its clients send reaches every node. Without a backplane, at once.
pub(crate) async fn reach_the_cluster<O>(handle: &zocket::Handle<O>) {
    let cluster = handle.cluster();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cluster.is_up() {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!("the cluster is not reachable yet: serving anyway, cross-node delivery starts when it is");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// With `REDIS_URL` set (`redis://127.0.0.1:6379`), makes the server one node of the cluster of
/// every server on that Redis; the example must be built with `--features redis`.
pub(crate) fn join_cluster_from_env<H, O, C, S>(zo: zocket::Zocket<H, O, C, S>) -> zocket::Zocket<H, O, C, S>
where
    H: serde::de::DeserializeOwned + garde::Validate + Send + 'static,
    H::Context: Default,
    O: zocket::Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    let Ok(url) = std::env::var("REDIS_URL") else {
        return zo;
    };
    #[cfg(feature = "redis")]
    {
        match zocket::cluster::RedisBackplane::new(&url) {
            Ok(backplane) => zo.backplane(backplane),
            Err(error) => {
                eprintln!("REDIS_URL={url}: {error}");
                std::process::exit(2);
            }
        }
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = zo;
        eprintln!("REDIS_URL={url} is set, but this build has no Redis backplane: build with --features redis");
        std::process::exit(2);
    }
}

/// The path given as `--export-ts PATH` on the command line, if any.
pub(crate) fn export_ts_path() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--export-ts" {
            return Some(args.next().expect("--export-ts needs a file path").into());
        }
    }
    None
}

/// With `--export-ts PATH` on the command line, writes the TypeScript types of the server `app`
/// builds to PATH (see `zocket::typescript`) and returns the outcome; otherwise `None`.
pub(crate) fn export_ts<H, O, C, S>(app: fn() -> zocket::Server<H, O, C, S>) -> Option<std::io::Result<()>>
where
    H: zocket::TS + 'static,
    O: zocket::Outgoing,
{
    let path = export_ts_path()?;
    let export = || {
        // Building a server may spawn its background tasks.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let _inside = runtime.enter();
        app().write_typescript(&path)?;
        println!("wrote {}", path.display());
        Ok(())
    };
    Some(export())
}
