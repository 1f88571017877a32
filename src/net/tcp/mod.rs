//! TCP: [`TcpListener`], [`TcpStream`] and the owned halves of a split stream.

mod listener;
mod split;
mod stream;

pub use listener::TcpListener;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReuniteError};
pub use stream::TcpStream;
