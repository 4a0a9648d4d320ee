//! How one field value becomes bytes: postcard by default, JSON or your own [`Codec`].

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A field value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{codec}: {message}")]
pub struct CodecError {
    codec: &'static str,
    message: String,
}

impl CodecError {
    /// An error from the codec named `codec`.
    pub fn new(codec: &'static str, message: impl std::fmt::Display) -> Self {
        Self { codec, message: message.to_string() }
    }

    /// The codec's name, e.g. `"postcard"`: what to log, as the message may quote the value.
    pub fn codec(&self) -> &'static str {
        self.codec
    }
}

/// Encodes and decodes field values. Fields are encoded one by one, so a field whose type
/// changed reads as its default without losing its neighbours.
pub trait Codec: Send + Sync + 'static {
    /// Appends the encoding of `value` to `out`.
    fn encode<T: Serialize + ?Sized>(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes one value; the whole of `bytes` must be used.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// The default codec: [postcard](https://docs.rs/postcard), compact and fast.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

impl Codec for Postcard {
    fn encode<T: Serialize + ?Sized>(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        postcard::serialize_with_flavor(value, AppendTo(out)).map_err(|e| CodecError::new("postcard", e))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| CodecError::new("postcard", e))?;
        if rest.is_empty() {
            Ok(value)
        } else {
            Err(CodecError::new("postcard", format!("{} trailing bytes", rest.len())))
        }
    }
}

/// Postcard's output appended to the caller's buffer, so one allocation serves all fields, and
/// byte strings copied whole (postcard's `to_extend` goes through `Extend`, byte by byte).
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// JSON field values: larger and slower than [`Postcard`], readable in the store.
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

#[cfg(feature = "json")]
impl Codec for Json {
    fn encode<T: Serialize + ?Sized>(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        serde_json::to_writer(out, value).map_err(|e| CodecError::new("json", e))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(|e| CodecError::new("json", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcard_appends_and_rejects_trailing_bytes() {
        let mut out = vec![9];
        Postcard.encode(&(7u8, "ab"), &mut out).unwrap();
        assert_eq!(out, [9, 7, 2, b'a', b'b']);
        let back: (u8, String) = Postcard.decode(&out[1..]).unwrap();
        assert_eq!(back, (7, "ab".to_string()));
        assert!(Postcard.decode::<u8>(&[1, 2]).is_err());
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_round_trip() {
        let mut out = Vec::new();
        Json.encode(&vec!["a"], &mut out).unwrap();
        assert_eq!(out, br#"["a"]"#);
        assert_eq!(Json.decode::<Vec<String>>(&out).unwrap(), vec!["a".to_string()]);
    }
}
