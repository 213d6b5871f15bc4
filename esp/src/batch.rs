//! Sealing and opening many packets in one call.
//!
//! The work per packet is the same as one [`OutboundSa::seal`] or [`InboundSa::open`] call;
//! a batch saves the caller's loop, the SPI lookup per packet ([`Sad::seal_batch`]) and, with
//! a reused result vector, every allocation.

use bytes::BytesMut;

use crate::error::{OpenError, SealError};
use crate::sa::{InboundSa, Opened, OutboundSa};
use crate::sad::Sad;
use crate::wire;

/// A batch seal stopped at packet `index`; the packets before it are sealed, it and the ones
/// after are untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("batch seal stopped at packet {index}: {error}")]
pub struct BatchSealError {
    /// The first packet not sealed.
    pub index: usize,
    /// Why.
    pub error: SealError,
}

impl OutboundSa {
    /// Seals every buffer of `bufs` in order, as [`OutboundSa::seal`] would, with consecutive
    /// sequence numbers.
    ///
    /// # Errors
    /// [`BatchSealError`] at the first packet that cannot be sealed (sequence exhausted, SA
    /// expired, payload too large).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use esp::{InboundSa, OutboundSa, SaParams};
    /// let mut tx = OutboundSa::new(SaParams::from_keymat(0x300, &[1; 20])?)?;
    /// let mut rx = InboundSa::new(SaParams::from_keymat(0x300, &[1; 20])?)?;
    /// let mut bufs: Vec<BytesMut> = (0..8u8).map(|i| BytesMut::from(&[i; 100][..])).collect();
    /// tx.seal_batch(&mut bufs, 4)?;
    /// let mut results = Vec::with_capacity(8);
    /// rx.open_batch(&mut bufs, &mut results);
    /// assert!(results.iter().all(|r| r.is_ok()));
    /// assert_eq!(bufs[7][..], [7; 100]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal_batch(
        &mut self,
        bufs: &mut [BytesMut],
        next_header: u8,
    ) -> Result<(), BatchSealError> {
        for (index, buf) in bufs.iter_mut().enumerate() {
            self.seal(buf, next_header)
                .map_err(|error| BatchSealError { index, error })?;
        }
        Ok(())
    }
}

impl InboundSa {
    /// Opens every buffer of `bufs` as [`InboundSa::open`] would. `results` is cleared and
    /// then holds one result per buffer, in order (reuse it: no allocation once it has the
    /// capacity). A failed packet does not stop the batch.
    pub fn open_batch(
        &mut self,
        bufs: &mut [BytesMut],
        results: &mut Vec<Result<Opened, OpenError>>,
    ) {
        results.clear();
        results.extend(bufs.iter_mut().map(|b| self.open(b)));
    }
}

impl Sad {
    /// Seals every buffer with the outbound SA `spi`; see [`OutboundSa::seal_batch`].
    ///
    /// # Errors
    /// [`BatchSealError`] at the first failure, with [`SealError::UnknownSpi`] at index 0
    /// when there is no such SA.
    pub fn seal_batch(
        &mut self,
        spi: u32,
        bufs: &mut [BytesMut],
        next_header: u8,
    ) -> Result<(), BatchSealError> {
        let Some(sa) = self.outbound.get_mut(&spi) else {
            return Err(BatchSealError {
                index: 0,
                error: SealError::UnknownSpi(spi),
            });
        };
        let r = sa.seal_batch(bufs, next_header);
        while let Some(e) = sa.poll_event() {
            self.events.push_back(e);
        }
        r
    }

    /// Opens every buffer with the inbound SA its SPI names; see [`InboundSa::open_batch`].
    /// Consecutive packets of the same SPI share one lookup.
    pub fn open_batch(
        &mut self,
        bufs: &mut [BytesMut],
        results: &mut Vec<Result<Opened, OpenError>>,
    ) {
        results.clear();
        let mut current: Option<(u32, &mut InboundSa)> = None;
        for buf in bufs.iter_mut() {
            let spi = match wire::spi_of(buf) {
                Ok(s) => s,
                Err(e) => {
                    results.push(Err(e.into()));
                    continue;
                }
            };
            if current.as_ref().is_none_or(|(s, _)| *s != spi) {
                if let Some((_, sa)) = current.take() {
                    while let Some(e) = sa.poll_event() {
                        self.events.push_back(e);
                    }
                }
                current = self.inbound.get_mut(&spi).map(|sa| (spi, sa));
            }
            match current.as_mut() {
                Some((_, sa)) => results.push(sa.open(buf)),
                None => results.push(Err(OpenError::UnknownSpi(spi))),
            }
        }
        if let Some((_, sa)) = current {
            while let Some(e) = sa.poll_event() {
                self.events.push_back(e);
            }
        }
    }
}
