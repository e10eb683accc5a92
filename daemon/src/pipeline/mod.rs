//! The conversation state machine and the turn timeline.
