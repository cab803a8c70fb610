//! How each convolution is lowered, and the one definition of what that costs in workspace:
//! im2col + GEMM in column tiles (sized to a workspace cap when one is given) or a direct kernel
//! with input tiles in workgroup memory and no workspace. [`choose`] writes the choice into each
//! conv node's [`ConvMethod`]; the workspace sizing ([`conv_workspace_bytes`], behind
//! [`Graph::workspace_bytes`]) and the GPU lowering read it back, so analysis, the naive layout,
//! the baselines and the lowering all see the same workspace. Pure arithmetic: no wgpu here.

use super::infer::IM2COL_TILE_BYTES;
use super::{Conv2dAttrs, ConvMethod, DType, Graph, Op};
use serde::Serialize;
use thiserror::Error;

/// Output positions one direct-convolution workgroup computes (`DIRECT_POSITIONS` in
/// conv_direct.wgsl): a `tile_h x tile_w` block of one image's output plane.
pub const DIRECT_POSITIONS: u64 = 64;
/// Output channels one direct-convolution workgroup computes (`DIRECT_CHANNELS`).
pub const DIRECT_CHANNELS: u64 = 16;
/// f32 elements of the direct kernel's workgroup input tile (`DIRECT_PATCH`): 16 KiB, half of
/// the 32 KiB of workgroup storage lavapipe (and WebGPU's default limit) allows.
pub const DIRECT_PATCH: u64 = 4096;
/// Columns of one GEMM tile (matmul.wgsl's `TILE`): the narrowest im2col tile `auto` accepts.
const GEMM_TILE_COLS: u64 = 16;

/// The `--conv` setting: one method for every conv op, or a choice per op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvMode {
    /// im2col + GEMM everywhere (tiles sized to the cap); an error where the cap is too small.
    Im2col,
    /// The direct kernel everywhere (no workspace).
    Direct,
    /// Per op: im2col when a tile at least one GEMM tile wide fits the cap, else direct.
    Auto,
}

impl ConvMode {
    /// The mode named `name` (`im2col`, `direct`, `auto`).
    pub fn from_name(name: &str) -> Option<ConvMode> {
        match name {
            "im2col" => Some(ConvMode::Im2col),
            "direct" => Some(ConvMode::Direct),
            "auto" => Some(ConvMode::Auto),
            _ => None,
        }
    }

    /// The command-line name (`im2col`, `direct`, `auto`).
    pub fn name(self) -> &'static str {
        match self {
            ConvMode::Im2col => "im2col",
            ConvMode::Direct => "direct",
            ConvMode::Auto => "auto",
        }
    }
}

/// Why a convolution cannot be lowered the way it was asked to be.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConvError {
    /// One im2col column of one image does not fit the workspace cap.
    #[error(
        "conv `{node}`: --workspace-cap {cap} bytes is below one im2col column ({column} bytes = C*KH*KW*element bytes); raise the cap or use --conv direct|auto"
    )]
    CapTooSmall {
        /// The conv node.
        node: String,
        /// The cap.
        cap: u64,
        /// Bytes of one column.
        column: u64,
    },
    /// The dilated kernel window of one output position does not fit the workgroup tile.
    #[error(
        "conv `{node}`: the direct kernel cannot stage a {window}-element input window (limit {DIRECT_PATCH}); use --conv im2col"
    )]
    WindowTooLarge {
        /// The conv node.
        node: String,
        /// Elements of one dilated kernel window.
        window: u64,
    },
    /// Neither method can run this conv (cap too small for im2col, window too large for direct).
    #[error(
        "conv `{node}`: neither method fits: one im2col column needs {column} bytes (cap {cap}) and the direct kernel cannot stage the {window}-element window"
    )]
    NoMethod {
        /// The conv node.
        node: String,
        /// The cap.
        cap: u64,
        /// Bytes of one column.
        column: u64,
        /// Elements of one dilated kernel window.
        window: u64,
    },
}

/// The shapes a conv's lowering depends on (NCHW input, OIHW weight, NCHW output) and the
/// size of its elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels.
    pub c: u64,
    /// Kernel height.
    pub kh: u64,
    /// Kernel width.
    pub kw: u64,
    /// Output height.
    pub oh: u64,
    /// Output width.
    pub ow: u64,
    /// Bytes per element of the conv's float dtype (4 for f32, 2 for f16): the im2col column
    /// matrix holds elements of that dtype.
    pub elem: u64,
}

impl ConvShape {
    /// From the input, weight and output dims (ranks checked by shape inference) and the conv's
    /// float dtype.
    pub fn new(x: &[usize], w: &[usize], out: &[usize], dtype: DType) -> ConvShape {
        let d = |v: &[usize], i: usize| v.get(i).copied().unwrap_or(0) as u64;
        ConvShape {
            c: d(x, 1),
            kh: d(w, 2),
            kw: d(w, 3),
            oh: d(out, 2),
            ow: d(out, 3),
            elem: dtype.size_bytes(),
        }
    }

    /// Bytes of one im2col column, C*KH*KW elements (saturating).
    pub fn column_bytes(&self) -> u64 {
        self.ckk().saturating_mul(self.elem)
    }

    /// Rows of the im2col column matrix, C*KH*KW (saturating).
    pub fn ckk(&self) -> u64 {
        self.c.saturating_mul(self.kh).saturating_mul(self.kw)
    }

    /// Output positions of one image, OH*OW (saturating).
    pub fn plane(&self) -> u64 {
        self.oh.saturating_mul(self.ow)
    }
}

/// Output positions per im2col tile: as many as fit in [`IM2COL_TILE_BYTES`] (at least 16, at
/// most the plane, at least 1), then at most as many whole columns as fit in `cap`. A column
/// is `ckk` elements of `elem` bytes (4 for f32, 2 for f16: an f16 tile holds twice the
/// columns in the same bytes). 0 when `cap` is below one column: im2col cannot run under that
/// cap.
pub fn im2col_tile_cols(ckk: u64, elem: u64, plane: u64, cap: Option<u64>) -> u64 {
    let column = ckk.max(1).saturating_mul(elem.max(1));
    let default = (IM2COL_TILE_BYTES / column).max(16).min(plane).max(1);
    match cap {
        Some(cap) => default.min(cap / column),
        None => default,
    }
}

/// Workspace bytes of a conv lowered by `method`: the im2col column tile, in elements of
/// `shape.elem` bytes (an f16 tile holds twice the columns in the same bytes), or 0 for direct.
/// `None` when the byte count overflows.
pub fn conv_workspace_bytes(method: ConvMethod, shape: &ConvShape) -> Option<u64> {
    match method {
        ConvMethod::Direct => Some(0),
        ConvMethod::Im2col { cap } => {
            let (ckk, plane) = (shape.ckk(), shape.plane());
            ckk.checked_mul(im2col_tile_cols(ckk, shape.elem, plane, cap))?
                .checked_mul(shape.elem)
        }
    }
}

/// Why `a.method` cannot lower this conv (checked by shape inference, so a graph file cannot
/// ask for it): an im2col cap below one column, or a window too wide for the direct kernel.
pub fn method_problem(a: &Conv2dAttrs, s: &ConvShape) -> Option<String> {
    match a.method {
        ConvMethod::Im2col { cap: Some(cap) }
            if im2col_tile_cols(s.ckk(), s.elem, s.plane(), Some(cap)) == 0 =>
        {
            Some(format!(
                "im2col workspace cap {cap} bytes is below one column ({} bytes)",
                s.column_bytes()
            ))
        }
        ConvMethod::Direct if direct_tile(a, s).is_none() => Some(format!(
            "the direct kernel cannot stage a {}-element input window (limit {DIRECT_PATCH})",
            direct_window(a, s)
        )),
        _ => None,
    }
}

/// The direct kernel's tiling of one conv: each workgroup computes `tile_h x tile_w` output
/// positions of [`DIRECT_CHANNELS`] channels, staging `chunk` input channels of the
/// `patch_h x patch_w` input window those positions read at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectTile {
    /// Output rows per workgroup.
    pub tile_h: u64,
    /// Output columns per workgroup.
    pub tile_w: u64,
    /// Input rows the tile reads: (tile_h - 1) * stride + (KH - 1) * dilation + 1.
    pub patch_h: u64,
    /// Input columns the tile reads.
    pub patch_w: u64,
    /// Input channels staged per pass (patch_h * patch_w * chunk <= DIRECT_PATCH).
    pub chunk: u64,
}

/// Elements of one output position's dilated kernel window ((KH-1)*dil+1 by (KW-1)*dil+1).
pub fn direct_window(a: &Conv2dAttrs, s: &ConvShape) -> u64 {
    let side = |k: u64, d: usize| {
        k.saturating_sub(1)
            .saturating_mul(d as u64)
            .saturating_add(1)
    };
    side(s.kh, a.dilation[0]).saturating_mul(side(s.kw, a.dilation[1]))
}

/// The direct kernel's tile for this conv: up to [`DIRECT_POSITIONS`] positions (at most 8
/// wide), halved along its longer side until one channel of its input window fits
/// [`DIRECT_PATCH`]; `None` when even one position's window does not fit.
pub fn direct_tile(a: &Conv2dAttrs, s: &ConvShape) -> Option<DirectTile> {
    let patch = |t: u64, stride: usize, k: u64, dil: usize| {
        (t - 1)
            .saturating_mul(stride as u64)
            .saturating_add(k.saturating_sub(1).saturating_mul(dil as u64))
            .saturating_add(1)
    };
    let mut tw = s.ow.clamp(1, 8);
    let mut th = (DIRECT_POSITIONS / tw).min(s.oh).max(1);
    loop {
        let ph = patch(th, a.stride[0], s.kh, a.dilation[0]);
        let pw = patch(tw, a.stride[1], s.kw, a.dilation[1]);
        let elems = ph.saturating_mul(pw);
        if elems <= DIRECT_PATCH {
            return Some(DirectTile {
                tile_h: th,
                tile_w: tw,
                patch_h: ph,
                patch_w: pw,
                chunk: (DIRECT_PATCH / elems).min(s.c).max(1),
            });
        }
        if th == 1 && tw == 1 {
            return None;
        }
        if th >= tw {
            th = th.div_ceil(2);
        } else {
            tw = tw.div_ceil(2);
        }
    }
}

/// What one conv op got, as the report lists it (JSON `plan.conv`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConvChoice {
    /// The conv node's name.
    pub node: String,
    /// `im2col` or `direct`.
    pub method: &'static str,
    /// Its workspace request in bytes (0 for direct).
    pub workspace_bytes: u64,
}

/// Every conv op's method and workspace, in node order.
pub fn choices(graph: &Graph) -> Vec<ConvChoice> {
    graph
        .node_ids()
        .filter_map(|id| {
            let node = graph.node(id);
            let Op::Conv2d(a) = &node.op else {
                return None;
            };
            Some(ConvChoice {
                node: node.name.clone(),
                method: match a.method {
                    ConvMethod::Im2col { .. } => "im2col",
                    ConvMethod::Direct => "direct",
                },
                workspace_bytes: graph.workspace_bytes(id),
            })
        })
        .collect()
}

/// The method for one conv under `mode` and `cap` (see [`ConvMode`]). The cost model of `auto`:
/// im2col's GEMM is the faster path while its column tile is at least one GEMM tile wide (16
/// output positions, or the whole plane when smaller); a narrower tile pays a dispatch pair per
/// few columns, so the direct kernel (no workspace) wins there.
fn pick(
    node: &str,
    a: &Conv2dAttrs,
    s: &ConvShape,
    mode: ConvMode,
    cap: Option<u64>,
) -> Result<ConvMethod, ConvError> {
    let cols = im2col_tile_cols(s.ckk(), s.elem, s.plane(), cap);
    let column = s.column_bytes();
    let window = direct_window(a, s);
    let direct_fits = direct_tile(a, s).is_some();
    let im2col = ConvMethod::Im2col { cap };
    let node = node.to_string();
    match mode {
        ConvMode::Im2col if cols == 0 => Err(ConvError::CapTooSmall {
            node,
            cap: cap.unwrap_or(0),
            column,
        }),
        ConvMode::Im2col => Ok(im2col),
        ConvMode::Direct if direct_fits => Ok(ConvMethod::Direct),
        ConvMode::Direct => Err(ConvError::WindowTooLarge { node, window }),
        ConvMode::Auto if cols >= GEMM_TILE_COLS.min(s.plane()).max(1) => Ok(im2col),
        ConvMode::Auto if direct_fits => Ok(ConvMethod::Direct),
        ConvMode::Auto if cols > 0 => Ok(im2col),
        ConvMode::Auto => Err(ConvError::NoMethod {
            node,
            cap: cap.unwrap_or(0),
            column,
            window,
        }),
    }
}

/// `graph` with every conv op's method chosen under `mode` and the workspace `cap` (bytes of
/// one op's im2col workspace; `None`: the default tile). Call on a validated graph.
pub fn choose(graph: &Graph, mode: ConvMode, cap: Option<u64>) -> Result<Graph, ConvError> {
    let mut out = graph.clone();
    for node in &mut out.nodes {
        let Op::Conv2d(a) = &mut node.op else {
            continue;
        };
        let dims = |i: usize| {
            node.inputs
                .get(i)
                .map_or(&[][..], |t| graph.tensors[t.index()].shape.dims())
        };
        let out_dims = node
            .outputs
            .first()
            .map_or(&[][..], |t| graph.tensors[t.index()].shape.dims());
        let dtype = node
            .inputs
            .first()
            .map_or(DType::F32, |t| graph.tensors[t.index()].dtype);
        let shape = ConvShape::new(dims(0), dims(1), out_dims, dtype);
        a.method = pick(&node.name, a, &shape, mode, cap)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
