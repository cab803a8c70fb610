//! Loading a plan file against a graph and a device: every check `tessera run --plan` makes
//! before anything runs, in order (graph, device alignment, schedule, buffers, validator,
//! tensor offsets, device sizes), then the [`PlannedGraph`] the executor takes.

use super::{PlanFile, PlanFileError, fingerprint, largest_binding};
use crate::analysis::{AnalysisOptions, WorkspacePolicy, analyze};
use crate::graph::conv;
use crate::graph::{Graph, NodeId};
use crate::layout::{MemoryLayout, planned_layout};
use crate::pipeline::{PlanConfig, PlannedGraph};
use crate::plan::{Budget, Outcome, Plan, Problem, lower_bound, validate};
use crate::report::ScheduleSection;
use crate::schedule::{MemoryModel, Scheduler, reorder};
use std::time::Instant;

/// The device limits a plan is checked against (from the adapter; plain numbers so that this
/// layer needs no wgpu).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceLimits {
    /// `min_storage_buffer_offset_alignment`.
    pub offset_alignment: u64,
    /// `max_storage_buffer_binding_size`.
    pub max_binding_bytes: u64,
    /// `max_buffer_size`.
    pub max_buffer_bytes: u64,
}

/// A plan file loaded against its graph: what the executor needs, and the config to report.
#[derive(Debug)]
pub struct Loaded {
    /// The planned graph (scheduled, analysed, with the file's offsets and their layout).
    pub planned: PlannedGraph,
    /// The config the plan was made with (planner name, analysis switches, schedule; the
    /// search budget is the default).
    pub cfg: PlanConfig,
}

impl PlanFile {
    /// Checks this plan against `graph` (as built from the model or graph file, before
    /// lowering) and, when given, the device, and returns the planned graph ready to execute.
    /// The first mismatch found is the error; a plan the validator refuses never reaches a
    /// layout.
    pub fn load(
        &self,
        graph: &Graph,
        device: Option<&DeviceLimits>,
    ) -> Result<Loaded, PlanFileError> {
        let started = Instant::now();
        let lowered = self.lowering.apply(graph)?;
        self.check_graph(&lowered)?;
        if let Some(d) = device {
            self.check_alignment(d)?;
        }
        let cfg = self.config()?;
        let scheduled = self.scheduled(&lowered)?;
        let analysis = analyze(&scheduled, &cfg.analysis).map_err(PlanFileError::Analysis)?;
        self.check_buffers(&analysis.problem)?;
        let plan = Plan {
            offsets: self.buffers.iter().map(|b| b.offset).collect(),
            arena_bytes: self.arena_bytes,
        };
        validate(&analysis.problem, &plan).map_err(PlanFileError::Invalid)?;
        let layout = planned_layout(&scheduled, &analysis, &plan, self.device.alignment)
            .map_err(PlanFileError::Invalid)?;
        self.check_layout(&scheduled, &layout)?;
        if let Some(d) = device {
            self.check_sizes(d)?;
        }
        let lb = lower_bound(&analysis.problem);
        let program: Vec<usize> = (0..lowered.nodes.len()).collect();
        let program_peak = MemoryModel::new(&lowered, &cfg.analysis).peak(&program);
        let attention = scheduled.attention_summary();
        let conv = conv::choices(&scheduled);
        let planned = PlannedGraph {
            schedule: self.schedule_section(lb, program_peak.unwrap_or(0)),
            analysis,
            outcome: Outcome::with_proof(plan, self.proven_optimal, lb),
            lower_bound: lb,
            layout,
            plan_ms: started.elapsed().as_secs_f64() * 1e3,
            attention,
            conv,
            micro_batch: self.lowering.micro_batch,
            graph: scheduled,
        };
        Ok(Loaded { planned, cfg })
    }

    fn check_graph(&self, lowered: &Graph) -> Result<(), PlanFileError> {
        let found = fingerprint(lowered);
        if found == self.graph_fingerprint {
            return Ok(());
        }
        let dtype = crate::transform::precision::float_dtype_name(lowered);
        if dtype != self.dtype {
            return Err(PlanFileError::Dtype {
                planned: self.dtype.escape_debug().to_string(),
                found: dtype,
            });
        }
        let options: Vec<String> = self
            .options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        Err(PlanFileError::GraphMismatch {
            model: format!("`{}`", self.model.escape_debug()),
            options: format!("[{}]", options.join(", ")),
            expected: self.graph_fingerprint.escape_debug().to_string(),
            found,
        })
    }

    fn check_alignment(&self, d: &DeviceLimits) -> Result<(), PlanFileError> {
        let device = d.offset_alignment.max(1);
        if self.device.alignment == 0 || !self.device.alignment.is_multiple_of(device) {
            return Err(PlanFileError::Alignment {
                plan: self.device.alignment,
                device,
            });
        }
        Ok(())
    }

    /// The planning config the file records (analysis switches at the file's alignment).
    fn config(&self) -> Result<PlanConfig, PlanFileError> {
        let workspace =
            WorkspacePolicy::from_name(&self.workspace).ok_or_else(|| PlanFileError::Unknown {
                what: "workspace policy",
                name: self.workspace.clone(),
            })?;
        let schedule =
            Scheduler::from_name(&self.schedule.name).ok_or_else(|| PlanFileError::Unknown {
                what: "scheduler",
                name: self.schedule.name.clone(),
            })?;
        crate::bytes::check_alignment(self.device.alignment).map_err(|problem| {
            PlanFileError::Malformed(format!(
                "`device.alignment` {} cannot be used: {problem}",
                self.device.alignment
            ))
        })?;
        Ok(PlanConfig {
            planner: self.planner.clone(),
            budget: Budget::default(),
            analysis: AnalysisOptions {
                alignment: self.device.alignment,
                in_place: self.in_place,
                workspace,
                streamed_inputs: self.streamed_inputs,
            },
            schedule,
        })
    }

    fn scheduled(&self, lowered: &Graph) -> Result<Graph, PlanFileError> {
        let order: Vec<NodeId> = self.schedule.order.iter().map(|&i| NodeId(i)).collect();
        reorder(lowered, &order).map_err(|e| PlanFileError::Schedule(e.to_string()))
    }

    fn check_buffers(&self, problem: &Problem) -> Result<(), PlanFileError> {
        let derived = &problem.buffers;
        if derived.len() != self.buffers.len() {
            return Err(PlanFileError::Total {
                what: "buffer count",
                recorded: self.buffers.len() as u64,
                derived: derived.len() as u64,
            });
        }
        for (index, (r, b)) in self.buffers.iter().zip(derived).enumerate() {
            let detail = if r.name != b.name {
                format!("the graph's buffer {index} is `{}`", b.name.escape_debug())
            } else if (r.start, r.end) != (b.lifetime.start, b.lifetime.end) {
                format!(
                    "lifetime [{}, {}) recorded, [{}, {}) derived",
                    r.start, r.end, b.lifetime.start, b.lifetime.end
                )
            } else if r.size != b.size {
                format!("{} bytes recorded, {} derived", r.size, b.size)
            } else if r.align != b.align {
                format!("alignment {} recorded, {} derived", r.align, b.align)
            } else {
                continue;
            };
            return Err(PlanFileError::BufferMismatch {
                index,
                name: r.name.escape_debug().to_string(),
                detail,
            });
        }
        Ok(())
    }

    fn check_layout(&self, graph: &Graph, layout: &MemoryLayout) -> Result<(), PlanFileError> {
        let totals = [
            (
                "tensor count",
                self.tensors.len() as u64,
                graph.tensors.len() as u64,
            ),
            (
                "weight region bytes",
                self.weights_bytes,
                layout.weights_bytes,
            ),
            ("guard band bytes", self.guard_bytes, layout.guard_bytes),
            (
                "buffer bytes",
                self.device.buffer_bytes,
                layout.total_bytes(),
            ),
            (
                "largest binding bytes",
                self.device.largest_binding_bytes,
                largest_binding(graph, layout).0,
            ),
        ];
        for (what, recorded, derived) in totals {
            if recorded != derived {
                return Err(PlanFileError::Total {
                    what,
                    recorded,
                    derived,
                });
            }
        }
        let records = self.tensors.iter().zip(&layout.tensor_offsets);
        for (index, (r, &derived)) in records.enumerate() {
            if r.offset != derived {
                return Err(PlanFileError::TensorOffset {
                    index,
                    name: r.name.escape_debug().to_string(),
                    recorded: r.offset,
                    derived,
                });
            }
        }
        Ok(())
    }

    fn check_sizes(&self, d: &DeviceLimits) -> Result<(), PlanFileError> {
        if self.device.buffer_bytes > d.max_buffer_bytes {
            return Err(PlanFileError::BufferTooLarge {
                bytes: self.device.buffer_bytes,
                limit: d.max_buffer_bytes,
            });
        }
        if self.device.largest_binding_bytes > d.max_binding_bytes {
            return Err(PlanFileError::BindingTooLarge {
                what: self.device.largest_binding.escape_debug().to_string(),
                bytes: self.device.largest_binding_bytes,
                limit: d.max_binding_bytes,
            });
        }
        Ok(())
    }

    /// The report's schedule section: the order's peak is the lower bound of its problem.
    fn schedule_section(&self, peak: u64, program_peak: u64) -> ScheduleSection {
        ScheduleSection {
            name: self.schedule.name.clone(),
            chosen: self.schedule.chosen.clone(),
            peak_live_bytes: peak,
            program_peak_live_bytes: program_peak,
            note: Some("from a plan file".into()),
            ..ScheduleSection::default()
        }
    }
}
