//! The configured bearer tokens, kept as SHA-256 digests and compared in constant time, so
//! neither content nor length leaks.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The accepted tokens, as digests.
#[derive(Debug, Default)]
pub struct Tokens(Vec<[u8; 32]>);

impl Tokens {
    pub fn new(tokens: &[String]) -> Self {
        Self(
            tokens
                .iter()
                .map(|t| Sha256::digest(t.as_bytes()).into())
                .collect(),
        )
    }

    /// No tokens configured: auth is off.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `candidate` is one of the tokens; every token is compared, match or not.
    pub fn accepts(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |acc, t| acc | t.ct_eq(&digest))
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_tokens_are_accepted() {
        let tokens = Tokens::new(&["alpha".into(), "beta".into()]);
        assert!(tokens.accepts("alpha"));
        assert!(tokens.accepts("beta"));
        assert!(!tokens.accepts("alph"));
        assert!(!tokens.accepts(""));
        assert!(!Tokens::default().accepts("alpha"));
    }
}
