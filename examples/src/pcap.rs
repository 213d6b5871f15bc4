//! A pcap writer (classic libpcap format, link type RAW: every record is an IPv4 packet) and a
//! key-file hook, so that Wireshark/`tshark` can decrypt the IKE and ESP of a simulated run.
//!
//! Timestamps are virtual: the simulator passes `now - epoch`, so two runs with the same seed
//! give byte-identical files.
//!
//! ```
//! use std::time::Duration;
//! use flexvpn_router::pcap::PcapWriter;
//!
//! let mut w = PcapWriter::new(Vec::new()).unwrap();
//! w.write_packet(Duration::from_millis(1500), &[0x45, 0, 0, 20]).unwrap();
//! let bytes = w.into_inner();
//! assert_eq!(&bytes[..4], &0xa1b2_3c4du32.to_le_bytes());
//! assert_eq!(bytes.len(), 24 + 16 + 4);
//! ```

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::time::Duration;

/// LINKTYPE_RAW: the packet begins with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;

/// Writes a pcap file with nanosecond timestamps.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Write the global header to `out`.
    ///
    /// # Errors
    /// The writer's I/O error.
    pub fn new(mut out: W) -> io::Result<Self> {
        let snaplen = 65535u32;
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes()); // nanosecond magic
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&snaplen.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&h)?;
        Ok(Self { out, snaplen })
    }

    /// Append one packet seen at virtual time `at` (time since the simulation's epoch).
    ///
    /// # Errors
    /// The writer's I/O error.
    pub fn write_packet(&mut self, at: Duration, packet: &[u8]) -> io::Result<()> {
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let incl = len.min(self.snaplen);
        let secs = u32::try_from(at.as_secs()).unwrap_or(u32::MAX);
        let mut r = Vec::with_capacity(16);
        r.extend_from_slice(&secs.to_le_bytes());
        r.extend_from_slice(&at.subsec_nanos().to_le_bytes());
        r.extend_from_slice(&incl.to_le_bytes());
        r.extend_from_slice(&len.to_le_bytes());
        self.out.write_all(&r)?;
        self.out
            .write_all(packet.get(..incl as usize).unwrap_or(packet))
    }

    /// Flush the underlying writer.
    ///
    /// # Errors
    /// The writer's I/O error.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The hook through which the node reports the keys of every SA it installs.
pub trait KeyLog {
    /// An IKE SA's keys (SK_ei/SK_er for AES-GCM; SK_ai/SK_ar empty).
    fn ike_sa(&mut self, spi_i: u64, spi_r: u64, sk_ei: &[u8], sk_er: &[u8], cipher: IkeCipher);
    /// One direction of an ESP SA: AES-GCM key followed by its 4-byte salt.
    fn esp_sa(&mut self, src: Ipv4Addr, dst: Ipv4Addr, spi: u32, key_and_salt: &[u8]);
}

/// The IKE SA ciphers the key file can describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IkeCipher {
    /// AES-GCM-16 with a 128-bit key (RFC 5282).
    AesGcm128,
    /// AES-GCM-16 with a 256-bit key.
    AesGcm256,
}

/// Collects keys in the formats of Wireshark's `ikev2_decryption_table` and `esp_sa` UAT files
/// (the files of a Wireshark profile directory, also usable with `tshark -o uat:...`).
#[derive(Debug, Default, Clone)]
pub struct WiresharkKeys {
    /// Lines of `ikev2_decryption_table`.
    pub ikev2: Vec<String>,
    /// Lines of `esp_sa`.
    pub esp: Vec<String>,
}

impl KeyLog for WiresharkKeys {
    fn ike_sa(&mut self, spi_i: u64, spi_r: u64, sk_ei: &[u8], sk_er: &[u8], cipher: IkeCipher) {
        let c = match cipher {
            IkeCipher::AesGcm128 => "AES-GCM-128 with 16 octet ICV [RFC5282]",
            IkeCipher::AesGcm256 => "AES-GCM-256 with 16 octet ICV [RFC5282]",
        };
        self.ikev2.push(format!(
            "{spi_i:016x},{spi_r:016x},{},{},\"{c}\",,,\"NONE [RFC4306]\"",
            hex(sk_ei),
            hex(sk_er)
        ));
    }

    fn esp_sa(&mut self, src: Ipv4Addr, dst: Ipv4Addr, spi: u32, key_and_salt: &[u8]) {
        // Wireshark derives the key size (128/192/256) from the key length.
        let enc = "AES-GCM with 16 octet ICV [RFC4106]";
        self.esp.push(format!(
            "\"IPv4\",\"{src}\",\"{dst}\",\"0x{spi:08x}\",\"{enc}\",\"0x{}\",\"NULL\",\"\"",
            hex(key_and_salt)
        ));
    }
}

impl WiresharkKeys {
    /// The `ikev2_decryption_table` file text.
    pub fn ikev2_file(&self) -> String {
        self.ikev2.iter().fold(String::new(), |mut s, l| {
            let _ = writeln!(s, "{l}");
            s
        })
    }

    /// The `esp_sa` file text.
    pub fn esp_file(&self) -> String {
        self.esp.iter().fold(String::new(), |mut s, l| {
            let _ = writeln!(s, "{l}");
            s
        })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(Duration::new(3, 250), b"abcd").unwrap();
        let b = w.into_inner();
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 2);
        assert_eq!(u32::from_le_bytes(b[20..24].try_into().unwrap()), 101);
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 250);
        assert_eq!(u32::from_le_bytes(b[32..36].try_into().unwrap()), 4);
        assert_eq!(&b[40..], b"abcd");
    }

    #[test]
    fn key_lines() {
        let mut k = WiresharkKeys::default();
        k.esp_sa(
            "1.2.3.4".parse().unwrap(),
            "5.6.7.8".parse().unwrap(),
            0xc0ffee,
            &[0xab; 20],
        );
        k.ike_sa(1, 2, &[1; 20], &[2; 20], IkeCipher::AesGcm128);
        assert!(
            k.esp_file()
                .starts_with("\"IPv4\",\"1.2.3.4\",\"5.6.7.8\",\"0x00c0ffee\",\"AES-GCM")
        );
        assert!(
            k.ikev2_file()
                .starts_with("0000000000000001,0000000000000002,0101")
        );
    }
}
