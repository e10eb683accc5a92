//! The log records a test's process sends, with their key-values: what
//! systemd-journal-logger would turn into journal fields.

use std::sync::Mutex;

pub struct Captured {
    pub level: log::Level,
    pub target: String,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

impl Captured {
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub static RECORDS: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

struct Capture;

/// Makes [`RECORDS`] the process's logger from `level` up (once per test binary).
pub fn capture(level: log::LevelFilter) {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(level);
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        struct Fields(Vec<(String, String)>);
        impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
            fn visit_pair(
                &mut self,
                key: log::kv::Key<'kvs>,
                value: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                self.0.push((key.to_string(), value.to_string()));
                Ok(())
            }
        }
        let mut fields = Fields(Vec::new());
        record.key_values().visit(&mut fields).unwrap();
        RECORDS.lock().unwrap().push(Captured {
            level: record.level(),
            target: record.target().to_string(),
            message: record.args().to_string(),
            fields: fields.0,
        });
    }
    fn flush(&self) {}
}
