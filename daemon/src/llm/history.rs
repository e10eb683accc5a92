//! The conversation a session keeps: past turns, trimmed to a token budget.

use std::collections::VecDeque;

use super::{ChatMessage, Role};

/// Rough token count used for the budget: servers' tokenizers differ, four characters a
/// token is close for English and errs on the safe side for short words.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4) + 4
}

fn turn_tokens((question, answer): &(String, String)) -> usize {
    estimate_tokens(question) + estimate_tokens(answer)
}

#[derive(Debug, Clone)]
pub struct History {
    turns: VecDeque<(String, String)>,
    budget_tokens: usize,
}

impl History {
    pub fn new(budget_tokens: usize) -> History {
        History {
            turns: VecDeque::new(),
            budget_tokens,
        }
    }

    /// A new budget (a reloaded `llm.history_tokens`), from the next question on.
    pub fn set_budget(&mut self, budget_tokens: usize) {
        self.budget_tokens = budget_tokens;
    }

    /// The messages for a new question: system prompt, as many recent turns as fit the
    /// budget (oldest dropped first; [`History::record`] keeps them within it unless the
    /// budget shrank), then the question.
    pub fn messages(&self, system_prompt: &str, question: &str) -> Vec<ChatMessage> {
        let mut used = 0;
        let mut kept = 0;
        for turn in self.turns.iter().rev() {
            let cost = turn_tokens(turn);
            if used + cost > self.budget_tokens {
                break;
            }
            used += cost;
            kept += 1;
        }
        let mut out = Vec::with_capacity(2 + kept * 2);
        if !system_prompt.is_empty() {
            out.push(ChatMessage::new(Role::System, system_prompt));
        }
        for (q, a) in self.turns.iter().skip(self.turns.len() - kept) {
            out.push(ChatMessage::new(Role::User, q));
            out.push(ChatMessage::new(Role::Assistant, a));
        }
        out.push(ChatMessage::new(Role::User, question));
        out
    }

    /// Records a finished turn. `spoken` is what the listener actually heard: after a
    /// barge-in, only the chunks played before it. An empty answer records nothing.
    pub fn record(&mut self, question: &str, spoken: &str) {
        let spoken = spoken.trim();
        if spoken.is_empty() {
            return;
        }
        self.turns
            .push_back((question.trim().to_string(), spoken.to_string()));
        let mut total: usize = self.turns.iter().map(turn_tokens).sum();
        if total <= self.budget_tokens {
            return;
        }
        // Over budget, the oldest turns go until half of it is left, not just enough to fit:
        // a server with a prompt cache (llama.cpp) re-reads everything after the first
        // changed message, and dropping one turn per question would change the second
        // message every time, re-reading the whole history (2.9 s a question on two cores
        // for 1000 tokens) instead of once every several turns.
        while total > self.budget_tokens / 2 {
            let Some(turn) = self.turns.pop_front() else {
                break;
            };
            total -= turn_tokens(&turn);
        }
    }

    pub fn clear(&mut self) {
        self.turns.clear();
    }

    pub fn len(&self) -> usize {
        self.turns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_turns_within_budget() {
        let mut h = History::new(40);
        h.record("first question", &"a".repeat(60));
        h.record("second question", "short answer");
        h.record("third question", "another short answer");
        let m = h.messages("sys", "now");
        let texts: Vec<&str> = m.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            texts,
            [
                "sys",
                "second question",
                "short answer",
                "third question",
                "another short answer",
                "now"
            ]
        );
    }

    #[test]
    fn trimming_keeps_the_prompt_prefix_for_several_turns() {
        let mut h = History::new(200);
        let mut previous = h.messages("sys", "q");
        let mut prefix_kept = 0;
        let mut trims = 0;
        for i in 0..40 {
            h.record(&format!("question {i}"), &"answer words ".repeat(4));
            let now = h.messages("sys", "q");
            let total: usize = h.turns.iter().map(turn_tokens).sum();
            assert!(total <= 200, "history over budget: {total}");
            // Unchanged history, or one turn appended: the server's cached prefix holds.
            let shared = previous.len() - 1;
            if now.len() > shared && now[..shared] == previous[..shared] {
                prefix_kept += 1;
            } else {
                trims += 1;
                assert!(total <= 100, "a trim leaves half the budget: {total}");
            }
            previous = now;
        }
        assert!(trims >= 2, "{trims} trims");
        assert!(
            prefix_kept >= 4 * trims,
            "{prefix_kept} kept, {trims} trims"
        );
    }

    #[test]
    fn records_only_what_was_spoken() {
        let mut h = History::new(1000);
        h.record("q", "   ");
        assert!(h.is_empty());
        h.record("tell me a story", "Once upon a time.");
        assert_eq!(h.messages("", "more")[1].content, "Once upon a time.");
    }
}
