//! The local control socket: TCP on `[::1]:PORT` or a unix socket (mode 0600). Each client is
//! a task that reads request lines and writes what the event loop sends it; the loop owns the
//! node and answers every request (see `control` for the line formats).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;

use crate::control::{Input, LineReader};

/// Lines queued for one client before it is considered stuck and disconnected.
pub const CLIENT_QUEUE: usize = 4096;
/// Most clients at once; later ones are refused.
pub const MAX_CLIENTS: usize = 64;

/// From a client task to the event loop.
#[derive(Debug)]
pub enum ToLoop {
    Connected {
        id: u64,
        out: mpsc::Sender<String>,
    },
    Line {
        id: u64,
        line: String,
    },
    /// A line longer than [`crate::control::MAX_LINE`]: answered `bad`, then the client is dropped.
    TooLong {
        id: u64,
    },
    Closed {
        id: u64,
    },
}

/// The listening socket.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// Listens on TCP `[::1]:port` (within a tokio runtime).
    pub fn tcp(port: u16) -> io::Result<Listener> {
        let l = std::net::TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, port))?;
        l.set_nonblocking(true)?;
        Ok(Listener::Tcp(TcpListener::from_std(l)?))
    }

    /// Listens on a unix socket at `path` (a stale socket file is replaced), mode 0600.
    pub fn unix(path: &Path) -> io::Result<Listener> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
                std::fs::remove_file(path)?
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "exists and is not a socket",
                ))
            }
            Err(_) => {}
        }
        let l = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Listener::Unix(l, path.to_path_buf()))
    }

    /// Accepts clients forever, spawning a task for each.
    pub async fn serve(self, to_loop: mpsc::Sender<ToLoop>) {
        let mut next_id = 1u64;
        loop {
            let id = next_id;
            next_id += 1;
            // Each kind of stream splits into its own halves; errors are handled once.
            let accepted = match &self {
                Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
                    let (r, w) = s.into_split();
                    tokio::spawn(client(id, r, w, to_loop.clone()));
                }),
                Listener::Unix(l, _) => l.accept().await.map(|(s, _)| {
                    let (r, w) = s.into_split();
                    tokio::spawn(client(id, r, w, to_loop.clone()));
                }),
            };
            if let Err(e) = accepted {
                tracing::warn!("control socket: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn client<R, W>(id: u64, mut r: R, mut w: W, to_loop: mpsc::Sender<ToLoop>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (out_tx, mut out_rx) = mpsc::channel::<String>(CLIENT_QUEUE);
    if to_loop
        .send(ToLoop::Connected { id, out: out_tx })
        .await
        .is_err()
    {
        return;
    }
    let writer = async {
        // Ends when the loop drops our sender (quit, overflow, shutdown).
        while let Some(s) = out_rx.recv().await {
            if w.write_all(s.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    };
    let reader = async {
        let mut lines = LineReader::default();
        let mut inputs = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = match r.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            lines.push(&chunk[..n], &mut inputs);
            for input in inputs.drain(..) {
                let msg = match input {
                    Input::Line(line) => ToLoop::Line { id, line },
                    Input::TooLong => ToLoop::TooLong { id },
                };
                let too_long = matches!(msg, ToLoop::TooLong { .. });
                if to_loop.send(msg).await.is_err() {
                    return;
                }
                if too_long {
                    // Wait for the loop to close us.
                    std::future::pending::<()>().await;
                }
            }
        }
    };
    tokio::pin!(writer);
    tokio::select! {
        // The loop closed us (quit, overflow, shutdown).
        _ = &mut writer => {}
        // The client stopped sending: the loop answers what it sent, then drops our
        // sender, and the writer ends after flushing.
        _ = reader => {
            let _ = to_loop.send(ToLoop::Closed { id }).await;
            writer.await;
            return;
        }
    }
    let _ = to_loop.send(ToLoop::Closed { id }).await;
}
