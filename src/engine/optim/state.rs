//! Each parameter's optimizer buffers, named as PyTorch names them (the names go into
//! checkpoints).

/// One parameter's optimizer state buffers (zeroed at start, as PyTorch's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamState {
    /// Named buffers: momentum, squares, …; their names go into checkpoints.
    pub buffers: Vec<(&'static str, Vec<f32>)>,
}

impl ParamState {
    /// The index of buffer `name`, created zeroed (`len` values) on first use.
    pub fn buf(&mut self, name: &'static str, len: usize) -> usize {
        match self.buffers.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.buffers.push((name, vec![0.0; len]));
                self.buffers.len() - 1
            }
        }
    }
}

/// Two distinct buffers mutably at once.
pub fn two<'a>(
    buffers: &'a mut [(&'static str, Vec<f32>)],
    a: usize,
    b: usize,
) -> (&'a mut Vec<f32>, &'a mut Vec<f32>) {
    assert_ne!(a, b);
    if a < b {
        let (lo, hi) = buffers.split_at_mut(b);
        (&mut lo[a].1, &mut hi[0].1)
    } else {
        let (lo, hi) = buffers.split_at_mut(a);
        (&mut hi[0].1, &mut lo[b].1)
    }
}
