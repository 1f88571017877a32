//! Turning what users write (`"example.com:80"`, `("::1", 8080)`, a `SocketAddr`) into
//! socket addresses, without ever blocking a worker.
//!
//! An input that already is, or parses as, a socket address resolves at once. Anything
//! else needs the system resolver (`getaddrinfo`), which blocks for as long as DNS takes:
//! that lookup runs on the runtime's blocking pool.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one or more socket addresses: the argument of
/// [`TcpListener::bind`](super::TcpListener::bind),
/// [`TcpStream::connect`](super::TcpStream::connect), [`UdpSocket`](super::UdpSocket)'s
/// methods and [`lookup_host`].
///
/// Implemented for [`SocketAddr`] (and its V4/V6 forms), `(IpAddr, u16)` (and the
/// `Ipv4Addr`/`Ipv6Addr` forms), `&str` and `String` in `"host:port"` form, `(&str, u16)`
/// and `(String, u16)`, and `&[SocketAddr]` / `[SocketAddr; N]` / `Vec<SocketAddr>` (tried
/// in order); and for a reference to any of these (`&addr`, `&String`), as in std.
///
/// Host names are resolved on the blocking pool (see
/// [`spawn_blocking`](crate::spawn_blocking)); addresses and strings that parse as
/// addresses never leave the calling task. The trait is sealed: it cannot be implemented
/// outside weft.
///
/// ```
/// # weft::run(async {
/// use weft::net::TcpListener;
/// let by_str = TcpListener::bind("127.0.0.1:0").await?;
/// let by_pair = TcpListener::bind(("127.0.0.1", 0)).await?;
/// let by_addr = TcpListener::bind(by_str.local_addr()?.ip().to_string() + ":0").await?;
/// let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
/// let by_ref = TcpListener::bind(&any).await?;
/// let both = [by_ref.local_addr()?, by_pair.local_addr()?];
/// let stream = weft::net::TcpStream::connect(&both[..]).await?;
/// assert_eq!(stream.peer_addr()?, both[0]);
/// # let _ = (by_pair, by_addr);
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub trait ToSocketAddrs: sealed::ToSocketAddrsPriv {}

pub(crate) mod sealed {
    //! The hidden half of [`ToSocketAddrs`](super::ToSocketAddrs).

    use std::io;
    use std::net::SocketAddr;

    /// What resolving an input takes.
    #[allow(
        unreachable_pub,
        reason = "sealed-trait pattern: public in a private module"
    )]
    #[derive(Debug)]
    pub enum Plan {
        /// Already known (or already failed to parse as anything resolvable).
        Ready(io::Result<Vec<SocketAddr>>),
        /// `"host:port"` for the system resolver.
        HostPort(String),
        /// `(host, port)` for the system resolver.
        HostAndPort(String, u16),
    }

    /// The sealed supertrait of `ToSocketAddrs`.
    #[allow(
        unreachable_pub,
        reason = "sealed-trait pattern: public in a private module"
    )]
    pub trait ToSocketAddrsPriv {
        /// How to turn `self` into addresses.
        fn to_plan(&self) -> Plan;
    }
}

use sealed::{Plan, ToSocketAddrsPriv};

macro_rules! direct {
    ($($t:ty => |$v:ident| $e:expr;)*) => {$(
        impl ToSocketAddrs for $t {}
        impl ToSocketAddrsPriv for $t {
            fn to_plan(&self) -> Plan {
                let $v = *self;
                Plan::Ready(Ok(vec![$e]))
            }
        }
    )*};
}

direct! {
    SocketAddr => |a| a;
    SocketAddrV4 => |a| SocketAddr::V4(a);
    SocketAddrV6 => |a| SocketAddr::V6(a);
    (IpAddr, u16) => |a| SocketAddr::new(a.0, a.1);
    (Ipv4Addr, u16) => |a| SocketAddr::new(IpAddr::V4(a.0), a.1);
    (Ipv6Addr, u16) => |a| SocketAddr::new(IpAddr::V6(a.0), a.1);
    ([u8; 4], u16) => |a| SocketAddr::new(IpAddr::from(a.0), a.1);
}

impl ToSocketAddrs for str {}
impl ToSocketAddrsPriv for str {
    fn to_plan(&self) -> Plan {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Plan::Ready(Ok(vec![addr])),
            Err(_) => Plan::HostPort(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {}
impl ToSocketAddrsPriv for String {
    fn to_plan(&self) -> Plan {
        self.as_str().to_plan()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl ToSocketAddrsPriv for (&str, u16) {
    fn to_plan(&self) -> Plan {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Plan::Ready(Ok(vec![SocketAddr::new(ip, self.1)])),
            Err(_) => Plan::HostAndPort(self.0.to_owned(), self.1),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl ToSocketAddrsPriv for (String, u16) {
    fn to_plan(&self) -> Plan {
        (self.0.as_str(), self.1).to_plan()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl ToSocketAddrsPriv for [SocketAddr] {
    fn to_plan(&self) -> Plan {
        Plan::Ready(Ok(self.to_vec()))
    }
}

impl<const N: usize> ToSocketAddrs for [SocketAddr; N] {}
impl<const N: usize> ToSocketAddrsPriv for [SocketAddr; N] {
    fn to_plan(&self) -> Plan {
        self.as_slice().to_plan()
    }
}

impl ToSocketAddrs for Vec<SocketAddr> {}
impl ToSocketAddrsPriv for Vec<SocketAddr> {
    fn to_plan(&self) -> Plan {
        self.as_slice().to_plan()
    }
}

/// A reference names what its target names: `&addr`, `&"host:port"`, `&vec` (as in std).
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrsPriv + ?Sized> ToSocketAddrsPriv for &T {
    fn to_plan(&self) -> Plan {
        (**self).to_plan()
    }
}

/// Resolves `addr` to a non-empty list of addresses, using the blocking pool only for host
/// names.
pub(crate) async fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.to_plan() {
        Plan::Ready(r) => r?,
        Plan::HostPort(query) => {
            blocking_lookup(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&query).map(Iterator::collect)
            })
            .await?
        }
        Plan::HostAndPort(host, port) => {
            blocking_lookup(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                    .map(Iterator::collect)
            })
            .await?
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        ));
    }
    Ok(addrs)
}

async fn blocking_lookup(
    f: impl FnOnce() -> io::Result<Vec<SocketAddr>> + Send + 'static,
) -> io::Result<Vec<SocketAddr>> {
    let handle = crate::Handle::try_current().ok_or_else(|| {
        io::Error::other("name resolution needs a weft runtime: call it from inside weft::run, Runtime::block_on or a task")
    })?;
    handle
        .spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("name resolution task failed: {e}")))?
}

/// Resolves a host name (with port) to its socket addresses, on the blocking pool
/// (tokio's `lookup_host`; asyncio's `loop.getaddrinfo`).
///
/// ```
/// # weft::run(async {
/// let addrs: Vec<_> = weft::net::lookup_host("127.0.0.1:80").await?.collect();
/// assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<LookupHost> {
    Ok(LookupHost {
        addrs: resolve(host).await?.into_iter(),
    })
}

/// The addresses [`lookup_host`] found, in the resolver's order.
///
/// ```
/// # weft::run(async {
/// let mut found = weft::net::lookup_host(("::1", 443)).await?;
/// assert_eq!(found.next(), Some("[::1]:443".parse().unwrap()));
/// assert_eq!(found.next(), None);
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct LookupHost {
    addrs: std::vec::IntoIter<SocketAddr>,
}

impl Iterator for LookupHost {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        self.addrs.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.addrs.size_hint()
    }
}

impl fmt::Debug for LookupHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.addrs.as_slice()).finish()
    }
}

/// Tries `op` on each address in turn; the last error wins if none succeeds.
pub(crate) async fn try_each<T, F, Fut>(addrs: Vec<SocketAddr>, mut op: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs {
        match op(addr).await {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}
