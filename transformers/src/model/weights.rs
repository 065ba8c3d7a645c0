//! Safetensors files of a [`Gpt`]: Hugging Face's format (a JSON header of names, dtypes, shapes and
//! byte offsets, then the raw little-endian data), through the `safetensors` crate. Tensors carry the
//! PyTorch parameter names (`blocks.0.attn.q_proj.weight`, layout `[out, in]`) as f32, and the
//! configuration is stored as JSON in the `__metadata__` under [`CONFIG_KEY`], so that the PyTorch
//! peer (`benches/peers/gpt_peer.py`) and tinylab read each other's files.

use super::config::GptConfig;
use super::gpt::Gpt;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::nn::Module;
use tinylab_classical::{Result, Tensor};

/// The `__metadata__` key holding the model's [`GptConfig`] as JSON.
pub const CONFIG_KEY: &str = "tinylab_gpt_config";

/// Writes every parameter of `model` to `path` as f32, with its configuration in the metadata.
pub fn save_safetensors(model: &Gpt, path: &Path) -> Result<()> {
    const OP: &str = "save_safetensors";
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    model.visit_params("", &mut |name, p| {
        let bytes = p.value.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((name, p.value.shape().to_vec(), bytes));
    });
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
                .map_err(|e| arg_err(OP, format!("`{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let config = serde_json::to_string(model.config()).map_err(|e| arg_err(OP, e.to_string()))?;
    let metadata = HashMap::from([(CONFIG_KEY.to_string(), config)]);
    safetensors::serialize_to_file(views, Some(metadata), path)
        .map_err(|e| arg_err(OP, format!("{}: {e}", path.display())))
}

/// The bytes of the file at `path`.
fn read(op: &'static str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| arg_err(op, format!("{}: {e}", path.display())))
}

/// The configuration stored in a file's metadata, if any.
fn stored_config(op: &'static str, path: &Path, bytes: &[u8]) -> Result<Option<GptConfig>> {
    let (_, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| arg_err(op, format!("{} is not a valid safetensors file: {e}", path.display())))?;
    match metadata.metadata().as_ref().and_then(|m| m.get(CONFIG_KEY)) {
        None => Ok(None),
        Some(json) => serde_json::from_str(json)
            .map(Some)
            .map_err(|e| arg_err(op, format!("{}: the stored configuration does not parse: {e}", path.display()))),
    }
}

/// The configuration stored in the file at `path` (an error when it holds none).
pub fn read_config(path: &Path) -> Result<GptConfig> {
    const OP: &str = "read_config";
    let bytes = read(OP, path)?;
    stored_config(OP, path, &bytes)?
        .ok_or_else(|| arg_err(OP, format!("{} holds no `{CONFIG_KEY}` metadata", path.display())))
}

/// A model built from the configuration stored at `path`, with the stored weights.
pub fn load_gpt(path: &Path) -> Result<Gpt> {
    let mut model = Gpt::new(read_config(path)?, 0)?;
    load_safetensors(&mut model, path)?;
    Ok(model)
}

/// Loads the weights at `path` into `model`. Every parameter must be present as f32 with the model's
/// shape and nothing else may be there; a stored configuration must equal the model's (the attention
/// kernel aside, which computes the same function whichever it is). Errors name the missing or extra
/// tensor, or both shapes; everything is checked before anything is written, so a failed load leaves
/// the model as it was.
pub fn load_safetensors(model: &mut Gpt, path: &Path) -> Result<()> {
    const OP: &str = "load_safetensors";
    let bytes = read(OP, path)?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| arg_err(OP, format!("{} is not a valid safetensors file: {e}", path.display())))?;
    if let Some(stored) = stored_config(OP, path, &bytes)? {
        let ours = GptConfig { attention: stored.attention, ..model.config().clone() };
        if stored != ours {
            return Err(arg_err(OP, format!("the file's configuration {stored:?} differs from the model's {ours:?}")));
        }
    }
    let mut wanted: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    model.visit_params("", &mut |name, p| {
        wanted.insert(name, p.value.shape().to_vec());
    });
    let mut values: BTreeMap<String, Tensor> = BTreeMap::new();
    for (name, shape) in &wanted {
        let view = file
            .tensor(name)
            .map_err(|_| arg_err(OP, format!("tensor `{name}` is missing from {}", path.display())))?;
        if view.dtype() != Dtype::F32 {
            return Err(arg_err(OP, format!("tensor `{name}` is {:?}, not F32", view.dtype())));
        }
        if view.shape() != shape.as_slice() {
            return Err(shape_err(OP, view.shape(), shape, format!("tensor `{name}` in the file vs the model")));
        }
        let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        values.insert(name.clone(), tinylab_classical::tensor::from_vec(shape, data)?);
    }
    if let Some(extra) = file.names().into_iter().find(|n| !wanted.contains_key(*n)) {
        return Err(arg_err(OP, format!("tensor `{extra}` in {} is not a parameter of the model", path.display())));
    }
    model.visit_params_mut("", &mut |name, p| {
        if let Some(v) = values.remove(&name) {
            p.value = v;
        }
    });
    Ok(())
}
