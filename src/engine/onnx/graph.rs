//! Building an ONNX graph a node at a time: each node gets a fresh output name, constants
//! become initializers, and the graph's inputs and outputs are declared with their types.

use std::collections::HashSet;

use super::proto::{
    ATTR_FLOAT, ATTR_INT, ATTR_INTS, ATTR_STRING, ATTR_STRINGS, AttributeProto, DimValue,
    Dimension, GraphProto, NodeProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto,
};
use super::proto::{DOUBLE, FLOAT, INT64};

/// The ONNX-ML domain (`CategoryMapper`).
pub const ML: &str = "ai.onnx.ml";

/// A node attribute's value.
#[derive(Debug, Clone)]
pub enum Attr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Str(String),
    Strs(Vec<String>),
}

/// One dimension of a declared input or output: fixed, the batch (named `N`), or a
/// sequence's steps (named `T`).
#[derive(Debug, Clone, Copy)]
pub enum Dim {
    Batch,
    Steps,
    Fixed(usize),
}

/// A graph under construction.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    /// Every name given so far (inputs, initializers, node outputs): fresh names avoid them.
    taken: HashSet<String>,
    count: usize,
}

impl Graph {
    /// A name no tensor of the graph has yet, starting `stem`.
    pub fn fresh(&mut self, stem: &str) -> String {
        loop {
            self.count += 1;
            let name = format!("{stem}_{}", self.count);
            if self.taken.insert(name.clone()) {
                return name;
            }
        }
    }

    fn constant(&mut self, stem: &str, mut tensor: TensorProto) -> String {
        tensor.name = self.fresh(stem);
        let name = tensor.name.clone();
        self.initializers.push(tensor);
        name
    }

    /// A float constant of shape `dims`.
    pub fn floats(&mut self, stem: &str, dims: &[usize], data: Vec<f32>) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        let tensor = TensorProto {
            float_data: data,
            ..shaped(dims, FLOAT)
        };
        self.constant(stem, tensor)
    }

    /// A float scalar (shape `[]`).
    pub fn scalar(&mut self, stem: &str, value: f32) -> String {
        self.floats(stem, &[], vec![value])
    }

    /// A double constant of shape `dims`.
    pub fn doubles(&mut self, stem: &str, dims: &[usize], data: Vec<f64>) -> String {
        let tensor = TensorProto {
            double_data: data,
            ..shaped(dims, DOUBLE)
        };
        self.constant(stem, tensor)
    }

    /// An int64 constant of shape `dims`.
    pub fn ints(&mut self, stem: &str, dims: &[usize], data: Vec<i64>) -> String {
        let tensor = TensorProto {
            int64_data: data,
            ..shaped(dims, INT64)
        };
        self.constant(stem, tensor)
    }

    /// A node of the default domain with one output, named fresh from its operator.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        self.node("", op, inputs, attrs, 1).remove(0)
    }

    /// A node of the ONNX-ML domain with one output.
    pub fn op_ml(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        self.node(ML, op, inputs, attrs, 1).remove(0)
    }

    /// A node of the default domain with its first `n` outputs named (an input `""` is an
    /// optional input left out).
    pub fn op_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        n: usize,
    ) -> Vec<String> {
        self.node("", op, inputs, attrs, n)
    }

    fn node(
        &mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        n: usize,
    ) -> Vec<String> {
        let outputs: Vec<String> = (0..n).map(|_| self.fresh(&op.to_lowercase())).collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.clone(),
            name: format!("{}_node", outputs[0]),
            op_type: op.into(),
            domain: domain.into(),
            attribute: attrs.into_iter().map(|(n, a)| attribute(n, a)).collect(),
        });
        outputs
    }

    /// `from` under the name `to` (an output's name), through `Identity`.
    pub fn rename(&mut self, from: &str, to: &str) {
        self.taken.insert(to.into());
        self.nodes.push(NodeProto {
            input: vec![from.into()],
            output: vec![to.into()],
            name: format!("{to}_node"),
            op_type: "Identity".into(),
            ..Default::default()
        });
    }

    /// Declares a graph input: `elem` one of `proto::{FLOAT, DOUBLE, STRING, …}`.
    pub fn input(&mut self, name: &str, elem: i32, dims: &[Dim]) {
        self.taken.insert(name.into());
        self.inputs.push(value_info(name, elem, dims));
    }

    /// Declares a graph output (a tensor already produced under `name`).
    pub fn output(&mut self, name: &str, elem: i32, dims: &[Dim]) {
        self.outputs.push(value_info(name, elem, dims));
    }

    /// The finished graph.
    pub fn build(self, name: &str) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: name.into(),
            initializer: self.initializers,
            input: self.inputs,
            output: self.outputs,
            ..Default::default()
        }
    }
}

/// An empty tensor of shape `dims` and element type `data_type`, to fill.
fn shaped(dims: &[usize], data_type: i32) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type,
        ..Default::default()
    }
}

fn attribute(name: &str, value: Attr) -> AttributeProto {
    let mut a = AttributeProto {
        name: name.into(),
        ..Default::default()
    };
    match value {
        Attr::Int(i) => (a.r#type, a.i) = (ATTR_INT, Some(i)),
        Attr::Float(f) => (a.r#type, a.f) = (ATTR_FLOAT, Some(f)),
        Attr::Ints(v) => (a.r#type, a.ints) = (ATTR_INTS, v),
        Attr::Str(s) => (a.r#type, a.s) = (ATTR_STRING, Some(s.into_bytes())),
        Attr::Strs(v) => {
            a.r#type = ATTR_STRINGS;
            a.strings = v.into_iter().map(String::into_bytes).collect();
        }
    }
    a
}

fn value_info(name: &str, elem: i32, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Batch => DimValue::DimParam("N".into()),
                Dim::Steps => DimValue::DimParam("T".into()),
                Dim::Fixed(n) => DimValue::DimValue(*n as i64),
            }),
        })
        .collect();
    let tensor_type = TensorTypeProto {
        elem_type: elem,
        shape: Some(TensorShapeProto { dim }),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(tensor_type),
        }),
        ..Default::default()
    }
}
