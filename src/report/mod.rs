//! What a run leaves behind for people and tools: the timeline of every guest and
//! of the faults, the summary table, the JSON-lines trace, the pcap capture, and
//! replay files of failing seeds.

mod artifacts;
mod pcap;
mod replay;
mod timeline;
mod trace_json;

pub use artifacts::{timeline_text, write_artifacts};
pub use pcap::{PcapStream, packet as pcap_packet};
pub use replay::{default_replay_dir, write_replay};
pub use timeline::{
    NetworkDetail, TimelineLine, api_errors, effect_text, guest_lines, network_lines, outcome_word,
    printable, render_timeline, sort_timeline, summary,
};
pub use trace_json::{record_json, write as write_trace};
