//! Values as stored, in the database and in the dataset cache: little-endian bytes, whatever
//! the machine.

use std::borrow::Cow;

/// The little-endian bytes of `values` as stored: the values' own memory on a little-endian
/// machine (a column can be hundreds of MiB: no copy), a converted copy elsewhere.
pub(crate) fn le_bytes<T: bytemuck::Pod>(values: &[T]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        Cow::Borrowed(bytemuck::cast_slice(values))
    } else {
        let size = std::mem::size_of::<T>();
        let mut bytes = bytemuck::cast_slice::<T, u8>(values).to_vec();
        bytes.chunks_exact_mut(size).for_each(<[u8]>::reverse);
        Cow::Owned(bytes)
    }
}

/// Values from their little-endian bytes (whole values: a trailing part is ignored), aligned
/// or not.
pub(crate) fn from_le_bytes<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    let size = std::mem::size_of::<T>();
    let whole = &bytes[..bytes.len() - bytes.len() % size];
    let mut values: Vec<T> = bytemuck::pod_collect_to_vec(whole);
    if cfg!(target_endian = "big") {
        bytemuck::cast_slice_mut::<T, u8>(&mut values)
            .chunks_exact_mut(size)
            .for_each(<[u8]>::reverse);
    }
    values
}
