//! NAT detection (RFC 7296 2.23): the data of NAT_DETECTION_SOURCE_IP and
//! NAT_DETECTION_DESTINATION_IP notifications.

use std::net::IpAddr;

use sha1::{Digest, Sha1};

/// Length of a NAT detection hash (SHA-1).
pub const NAT_DETECTION_HASH_LEN: usize = 20;

/// `SHA-1(SPIi | SPIr | IP address | port)`, with the SPIs as in the IKE
/// header (SPIr is zero in the IKE_SA_INIT request), the address as 4 or 16
/// octets and the port in network order.
///
/// ```
/// use ikev2::crypto::nat_detection_hash;
/// let h = nat_detection_hash(0x0102030405060708, 0, "192.0.2.1".parse().unwrap(), 500);
/// assert_eq!(h.len(), 20);
/// ```
pub fn nat_detection_hash(
    spi_i: u64,
    spi_r: u64,
    ip: IpAddr,
    port: u16,
) -> [u8; NAT_DETECTION_HASH_LEN] {
    let mut h = Sha1::new();
    h.update(spi_i.to_be_bytes());
    h.update(spi_r.to_be_bytes());
    match ip {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    h.update(port.to_be_bytes());
    h.finalize().into()
}
