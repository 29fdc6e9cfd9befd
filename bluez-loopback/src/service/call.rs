//! Calls to applications (GATT apps, advertisements) that survive a false send failure of dbus-tokio.
//!
//! dbus-tokio 0.7's `Proxy::method_call` fails with `org.freedesktop.DBus.Error.Failed: Failed to send
//! message` when the message could not be written at once (the socket is full, e.g. behind a large
//! `GetManagedObjects` reply to a central) and the connection's I/O task, already woken, has not run yet.
//! The message is queued all the same and goes out on that task's next run, and the application answers;
//! only the caller was told otherwise. Under load that turned a central's descriptor read into an error
//! now and then. Here the reply handler is registered with the message, the send's `Err(())` is taken for
//! what it is (the wake-up was already pending), and the reply is awaited with a deadline.

use std::future::Future;
use std::sync::Arc;

use dbus::arg::{AppendAll, ReadAll};
use dbus::nonblock::{NonblockReply, SyncConnection};
use dbus::Message;
use tokio::sync::oneshot;

use super::APP_TIMEOUT;

/// An application object of one bus client, to call methods on.
pub(super) struct AppProxy {
    conn: Arc<SyncConnection>,
    dest: String,
    path: String,
}

impl AppProxy {
    pub(super) fn new(conn: Arc<SyncConnection>, dest: String, path: String) -> Self {
        Self { conn, dest, path }
    }

    /// Sends the call now (as `Proxy::method_call` does, so calls keep their order) and returns the
    /// reply's arguments, an error reply, or a timeout error after [`APP_TIMEOUT`].
    pub(super) fn method_call<R, A>(
        &self,
        iface: &str,
        method: &str,
        args: A,
    ) -> impl Future<Output = Result<R, dbus::Error>> + Send + 'static
    where
        R: ReadAll + Send + 'static,
        A: AppendAll,
    {
        let sent = self.send(iface, method, args);
        let conn = self.conn.clone();
        async move {
            let (rx, token) = sent?;
            let mut reply = match tokio::time::timeout(APP_TIMEOUT, rx).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(_)) => return Err(dbus::Error::new_failed("the D-Bus connection closed")),
                Err(_) => {
                    if let Some(t) = token {
                        conn.cancel_reply(t);
                    }
                    return Err(dbus::Error::new_custom(
                        "org.freedesktop.DBus.Error.Timeout",
                        "Timeout waiting for reply",
                    ));
                }
            };
            reply.as_result()?;
            reply.read_all::<R>()
        }
    }

    /// Queues the call with its reply handler; the token is `None` when dbus-tokio reported the false
    /// failure (module docs), which leaves the handler in place.
    #[allow(clippy::type_complexity)]
    fn send<A: AppendAll>(
        &self,
        iface: &str,
        method: &str,
        args: A,
    ) -> Result<(oneshot::Receiver<Message>, Option<dbus::channel::Token>), dbus::Error> {
        let mut msg =
            Message::new_method_call(self.dest.as_str(), self.path.as_str(), iface, method)
                .map_err(|e| dbus::Error::new_failed(&e))?;
        msg.append_all(args);
        let (tx, rx) = oneshot::channel();
        let token = self.conn.send_with_reply(
            msg,
            Box::new(move |reply: Message, _: &SyncConnection| {
                let _ = tx.send(reply);
            }),
        );
        if token.is_err() {
            tracing::debug!(
                method,
                "dbus-tokio reported a send failure; awaiting the reply anyway"
            );
        }
        Ok((rx, token.ok()))
    }
}
