//! The convolutional sequence families: FCN (`kind: "fcn"`) and ResNet-1D (`kind:
//! "resnet1d"`), Wang et al. 2017. Convolutions with `same` padding on the dense GEMM (im2col),
//! batch norm over each sequence's valid steps, ReLU, residual blocks, global average pooling
//! over valid steps and a linear head. Activations are laid out B × T × C (channels last), and
//! every activation past a sequence's length is 0, so padding never changes a sequence's
//! outputs or gradients. Pinned to `torch.nn.Conv1d`/`BatchNorm1d` by `tests/engine/conv.rs`.

pub mod conv1d;
pub mod family;
pub mod net;
pub mod norm;
mod onnx;
pub mod parameters;
