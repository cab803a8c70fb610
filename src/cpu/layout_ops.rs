//! Data-movement ops: reshape (a copy on the host; a view on the device), axis permutation,
//! concatenation, and the embedding gather. Reshape, permute and concat work on any dtype.

use super::{CpuError, Ctx, TensorData};
use crate::graph::Shape;

/// Applies `f` to the data whatever its element type.
fn map_data(
    d: &TensorData,
    f32s: impl FnOnce(&[f32]) -> Result<Vec<f32>, CpuError>,
    u32s: impl FnOnce(&[u32]) -> Result<Vec<u32>, CpuError>,
) -> Result<TensorData, CpuError> {
    Ok(match d {
        TensorData::F32(v) => TensorData::F32(f32s(v)?),
        TensorData::U32(v) => TensorData::U32(u32s(v)?),
    })
}

fn first<'d>(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &'d TensorData)],
) -> Result<&'d TensorData, CpuError> {
    inputs
        .first()
        .map(|(_, d)| *d)
        .ok_or_else(|| cx.mismatch("missing input"))
}

/// Same elements, new shape (checked by inference).
pub(crate) fn reshape(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    Ok(first(cx, inputs)?.clone())
}

fn gather<T: Copy>(cx: &Ctx<'_>, src: &[T], index: &[usize]) -> Result<Vec<T>, CpuError> {
    let mut out = Vec::new();
    out.try_reserve_exact(index.len())
        .map_err(|_| cx.mismatch("could not allocate the output"))?;
    out.extend(index.iter().map(|&i| src[i]));
    Ok(out)
}

/// `out.dims[i] = in.dims[perm[i]]`: output position `o` reads input offset
/// `sum_i o[i] * in_stride[perm[i]]`.
pub(crate) fn permute(
    cx: &Ctx<'_>,
    perm: &[usize],
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let in_strides = Shape::new(cx.dims(inputs, 0)?).strides();
    let od = out_shape.dims();
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let total: usize = od.iter().product();
    let mut index = Vec::new();
    index
        .try_reserve_exact(total)
        .map_err(|_| cx.mismatch("could not allocate the index"))?;
    let mut idx = vec![0usize; od.len()];
    let mut off = 0usize;
    for _ in 0..total {
        index.push(off);
        for d in (0..od.len()).rev() {
            idx[d] += 1;
            off += strides[d];
            if idx[d] < od[d] {
                break;
            }
            off -= strides[d] * od[d];
            idx[d] = 0;
        }
    }
    map_data(
        first(cx, inputs)?,
        |v| gather(cx, v, &index),
        |v| gather(cx, v, &index),
    )
}

fn concat_typed<T: Copy>(
    cx: &Ctx<'_>,
    parts: &[(&[T], usize)],
    outer: usize,
    total: usize,
) -> Result<Vec<T>, CpuError> {
    let mut out = Vec::new();
    out.try_reserve_exact(total)
        .map_err(|_| cx.mismatch("could not allocate the output"))?;
    for o in 0..outer {
        for &(data, chunk) in parts {
            out.extend_from_slice(&data[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(out)
}

/// Concatenation along `axis`: for each index of the dims before `axis`, the inputs' blocks
/// follow one another.
pub(crate) fn concat(
    cx: &Ctx<'_>,
    axis: usize,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let od = out_shape.dims();
    let outer: usize = od[..axis].iter().product();
    let total: usize = od.iter().product();
    let chunk = |s: &Shape| s.dims()[axis..].iter().product::<usize>();
    match first(cx, inputs)? {
        TensorData::F32(_) => {
            let parts = inputs
                .iter()
                .map(|(s, d)| {
                    d.as_f32()
                        .map(|v| (v, chunk(s)))
                        .ok_or_else(|| cx.mismatch("mixed dtypes"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(TensorData::F32(concat_typed(cx, &parts, outer, total)?))
        }
        TensorData::U32(_) => {
            let parts = inputs
                .iter()
                .map(|(s, d)| {
                    d.as_u32()
                        .map(|v| (v, chunk(s)))
                        .ok_or_else(|| cx.mismatch("mixed dtypes"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(TensorData::U32(concat_typed(cx, &parts, outer, total)?))
        }
    }
}

/// Gathers rows of `table [V, D]` by `ids`; an id `>= V` is an error naming the node.
pub(crate) fn embedding(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let table = cx.f32_in(inputs, 0)?;
    let ids = cx.u32_in(inputs, 1)?;
    let td = cx.dims(inputs, 0)?;
    let (rows, d) = (td[0], td[1]);
    let bad = ids
        .iter()
        .enumerate()
        .find(|&(_, &id)| usize::try_from(id).map_or(true, |r| r >= rows));
    if let Some((position, &id)) = bad {
        return Err(CpuError::IdOutOfRange {
            node: cx.node().to_string(),
            op: cx.op_name(),
            id,
            position,
            rows,
        });
    }
    let mut out = cx.zeros(ids.len() * d)?;
    for (&id, o) in ids.iter().zip(out.chunks_exact_mut(d.max(1))) {
        let r = id as usize;
        o.copy_from_slice(&table[r * d..(r + 1) * d]);
    }
    Ok(TensorData::F32(out))
}

#[cfg(test)]
mod tests {
    use crate::cpu::{CpuError, TensorData, eval_node};
    use crate::graph::{Op, Shape};

    #[test]
    fn permute_transposes_a_matrix_and_swaps_middle_axes() {
        let s = Shape::new([2, 3]);
        let x = TensorData::F32(vec![1., 2., 3., 4., 5., 6.]);
        let out = eval_node(
            &Op::Permute { perm: vec![1, 0] },
            &[(&s, &x)],
            &Shape::new([3, 2]),
        )
        .unwrap();
        assert_eq!(out.as_f32().unwrap(), &[1., 4., 2., 5., 3., 6.]);
        // [1, 2, 2, 1] -> perm [0, 2, 1, 3]: element (0, a, b, 0) moves to (0, b, a, 0).
        let s4 = Shape::new([1, 2, 2, 1]);
        let ids = TensorData::U32(vec![0, 1, 2, 3]);
        let out = eval_node(
            &Op::Permute {
                perm: vec![0, 2, 1, 3],
            },
            &[(&s4, &ids)],
            &s4,
        )
        .unwrap();
        assert_eq!(out, TensorData::U32(vec![0, 2, 1, 3]));
    }

    #[test]
    fn concat_along_inner_and_outer_axes() {
        let (sa, sb) = (Shape::new([2, 1]), Shape::new([2, 2]));
        let a = TensorData::F32(vec![1., 2.]);
        let b = TensorData::F32(vec![10., 11., 20., 21.]);
        let out = eval_node(
            &Op::Concat { axis: 1 },
            &[(&sa, &a), (&sb, &b)],
            &Shape::new([2, 3]),
        )
        .unwrap();
        assert_eq!(out.as_f32().unwrap(), &[1., 10., 11., 2., 20., 21.]);
        let sc = Shape::new([1, 2]);
        let c = TensorData::F32(vec![7., 8.]);
        let out = eval_node(
            &Op::Concat { axis: 0 },
            &[(&sb, &b), (&sc, &c)],
            &Shape::new([3, 2]),
        )
        .unwrap();
        assert_eq!(out.as_f32().unwrap(), &[10., 11., 20., 21., 7., 8.]);
    }

    #[test]
    fn reshape_keeps_the_elements() {
        let s = Shape::new([2, 2]);
        let x = TensorData::F32(vec![1., 2., 3., 4.]);
        let out = eval_node(
            &Op::Reshape { shape: vec![4] },
            &[(&s, &x)],
            &Shape::new([4]),
        )
        .unwrap();
        assert_eq!(out, x);
    }

    #[test]
    fn embedding_gathers_rows_and_rejects_bad_ids() {
        let (st, si) = (Shape::new([3, 2]), Shape::new([2, 2]));
        let table = TensorData::F32(vec![0., 1., 10., 11., 20., 21.]);
        let ids = TensorData::U32(vec![2, 0, 1, 2]);
        let out = eval_node(
            &Op::Embedding,
            &[(&st, &table), (&si, &ids)],
            &Shape::new([2, 2, 2]),
        )
        .unwrap();
        assert_eq!(
            out.as_f32().unwrap(),
            &[20., 21., 0., 1., 10., 11., 20., 21.]
        );
        let bad = TensorData::U32(vec![0, 1, 3, 0]);
        let err = eval_node(
            &Op::Embedding,
            &[(&st, &table), (&si, &bad)],
            &Shape::new([2, 2, 2]),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                CpuError::IdOutOfRange {
                    id: 3,
                    position: 2,
                    rows: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("embedding"), "{err}");
    }
}
