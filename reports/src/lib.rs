//! servesim's renderers: self-contained HTML reports with inline SVG charts (plotters). Renders
//! only: callers pass results in and write the returned text where they like.

pub mod airflow;
pub mod charts;
pub mod dashboard;
pub mod deploy;
pub mod html;
pub mod job_deploy;
pub mod jobs;
pub mod kubernetes;
pub mod llm_deploy;
pub mod otlp;
pub mod runtime;
pub mod slo_rules;
pub mod spark;
pub mod table;

pub use html::{escape, render_run, PlanSection, ReportData, RunReport, UncertaintySection};
