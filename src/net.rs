//! Small IO helpers shared by the client engine and the mock server.

use std::rc::Rc;

use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;

/// Reads whatever the socket has into the spare capacity of `buf` (after `buf.len()`), growing
/// it first when it is full. Returns the byte count (0 at EOF) and the buffer.
pub async fn read_more(
    stream: &mut impl AsyncReadRent,
    mut buf: Vec<u8>,
) -> (std::io::Result<usize>, Vec<u8>) {
    if buf.len() == buf.capacity() {
        buf.reserve(buf.capacity().max(4096));
    }
    let len = buf.len();
    let (res, slice) = stream.read(buf.slice_mut(len..)).await;
    (res, slice.into_inner())
}

/// Immutable bytes shared by reference count within one thread, written to sockets without a
/// copy. (Every thread gets its own copy of the request bytes, so no atomic refcount is shared
/// between cores.)
#[derive(Clone)]
pub struct SharedBytes(Rc<[u8]>);

impl SharedBytes {
    pub fn new(bytes: &[u8]) -> SharedBytes {
        SharedBytes(Rc::from(bytes))
    }
}

impl std::ops::Deref for SharedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

// SAFETY: the pointer is into an `Rc<[u8]>` allocation, which never moves or changes while any
// clone (including the one the runtime holds during the write) is alive.
unsafe impl monoio::buf::IoBuf for SharedBytes {
    fn read_ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.0.len()
    }
}
