//! Chunker latency: time from a delta arriving to the chunks it completes, over a long
//! streamed answer fed token-sized. Run by scripts/bench-speak.

use std::time::Instant;

use hearken::llm::Chunker;

const ANSWER: &str = "Sure, here is a quick summary. The **weather** today is sunny, with a high of 21°C and a low of 12°C. \
Tomorrow, e.g. around 3.5 p.m., rain is likely 🌧️; see https://example.com/forecast for details. \
Dr. Smith says: bring a coat! Here are the steps:\n1. Check the sky.\n2. Take an umbrella.\n\
```bash\necho not spoken\n```\nThat's all for now. Have a great day, and stay dry!";

fn main() {
    // Token-sized deltas, as an LLM streams them.
    let deltas: Vec<String> = ANSWER
        .split_inclusive(' ')
        .flat_map(|w| {
            let mut k = w.len() / 2;
            while !w.is_char_boundary(k) {
                k -= 1;
            }
            let (a, b) = w.split_at(k);
            [a.to_string(), b.to_string()]
        })
        .filter(|d| !d.is_empty())
        .collect();
    let rounds = 2000;
    let mut per_delta = Vec::with_capacity(rounds * deltas.len());
    let mut chunks = 0;
    let start = Instant::now();
    for _ in 0..rounds {
        let mut c = Chunker::new();
        for d in &deltas {
            let t = Instant::now();
            chunks += c.push(d).len();
            per_delta.push(t.elapsed().as_secs_f64() * 1e6);
        }
        chunks += usize::from(c.finish().is_some());
    }
    let total = start.elapsed().as_secs_f64();
    per_delta.sort_by(f64::total_cmp);
    let pct = |p: f64| per_delta[((per_delta.len() - 1) as f64 * p) as usize];
    println!(
        "{{\"deltas\": {}, \"chunks\": {}, \"delta_us_p50\": {:.2}, \"delta_us_p99\": {:.2}, \"delta_us_max\": {:.2}, \"answer_us\": {:.1}}}",
        per_delta.len(),
        chunks,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        total * 1e6 / rounds as f64
    );
}
