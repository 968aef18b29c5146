use std::time::{Duration, Instant};
fn main() {
    let mut p = ndcluster::collect::proc::ProcCollector::new("/", 1);
    let _ = p.collect();
    let mut hot = Vec::new();
    for _ in 0..50 { let t = Instant::now(); let c = p.collect(); std::hint::black_box(c.charts.len()); hot.push(t.elapsed()); }
    let mut cold = Vec::new();
    for _ in 0..15 { std::thread::sleep(Duration::from_millis(1000)); let t = Instant::now(); let c = p.collect(); std::hint::black_box(c.charts.len()); cold.push(t.elapsed()); }
    hot.sort(); cold.sort();
    println!("hot median {:?} cold median {:?} cold min {:?}", hot[hot.len()/2], cold[cold.len()/2], cold[0]);
}
