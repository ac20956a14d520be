//! A failing run's artifacts in one directory: `timeline.txt` (every guest's lines
//! and the faults), `summary.txt`, `trace.jsonl`, and `capture.pcap` when the run
//! kept its packets.

use std::path::Path;

use anyhow::{Context, Result};
use simnet_wasi::{Report, Sim};

use super::{
    NetworkDetail, PcapStream, guest_lines, network_lines, render_timeline, sort_timeline,
};

/// Every guest's output and every fault, in the order they happened.
pub fn timeline_text(sim: &Sim, report: &Report) -> String {
    let mut lines = guest_lines(sim, report);
    lines.extend(network_lines(sim, NetworkDetail::Faults));
    sort_timeline(&mut lines);
    render_timeline(&lines)
}

/// Write the run's timeline, `summary` and trace into `dir` (created if missing),
/// and its capture if it kept packets.
pub fn write_artifacts(dir: &Path, sim: &Sim, report: &Report, summary: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write("timeline.txt", &timeline_text(sim, report))?;
    write("summary.txt", summary)?;
    let trace = dir.join("trace.jsonl");
    let file = std::fs::File::create(&trace)
        .with_context(|| format!("cannot create {}", trace.display()))?;
    super::write_trace(file, &trace, sim, report)?;
    write_kept_capture(&dir.join("capture.pcap"), sim)
}

/// The packets the run kept in memory ([`simnet_core::Net::enable_capture`]), if any.
fn write_kept_capture(path: &Path, sim: &Sim) -> Result<()> {
    let kept = sim.with_net(|net| net.captured().next().is_some());
    if !kept {
        return Ok(());
    }
    let mut stream = PcapStream::create(path)?;
    sim.with_net(|net| net.captured().for_each(|p| stream.packet(p)));
    stream.finish()
}
