//! How the goroutine index file (`goindex`) keeps its transitions: each
//! string (a state, a function, a "file:line") once, in a table, and the
//! transitions as indices into it. A web server's index repeats the same
//! few hundred strings tens of thousands of times: httpserver -load 2000's
//! file was 7 MB, its writing ~15 ms of a first query and its reading most
//! of every later one.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::goindex::{IoReady, Transition, Waker};

/// A string's place in the table.
type Id = u32;

#[derive(Serialize, Deserialize)]
struct Row {
    event: u64,
    time_ns: Option<u64>,
    goid: u64,
    state: Id,
    thread: Option<i32>,
    function: Option<Id>,
    location: Option<Id>,
    woken_by: Option<WakerRow>,
    until_ns: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct WakerRow {
    goid: Option<u64>,
    function: Option<Id>,
    location: Option<Id>,
    io: Option<IoReady>,
}

#[derive(Default)]
struct Table<'a> {
    ids: HashMap<&'a str, Id>,
    strings: Vec<&'a str>,
}

impl<'a> Table<'a> {
    fn id(&mut self, s: &'a str) -> Id {
        *self.ids.entry(s).or_insert_with(|| {
            self.strings.push(s);
            (self.strings.len() - 1) as Id
        })
    }

    fn opt(&mut self, s: &'a Option<String>) -> Option<Id> {
        s.as_deref().map(|s| self.id(s))
    }
}

/// `#[serde(with = "interned")]` for `GoIndex::transitions`.
pub fn serialize<S: Serializer>(transitions: &[Transition], s: S) -> Result<S::Ok, S::Error> {
    let mut table = Table::default();
    let rows: Vec<Row> = transitions
        .iter()
        .map(|t| Row {
            event: t.event,
            time_ns: t.time_ns,
            goid: t.goid,
            state: table.id(&t.state),
            thread: t.thread,
            function: table.opt(&t.function),
            location: table.opt(&t.location),
            woken_by: t.woken_by.as_ref().map(|w| WakerRow {
                goid: w.goid,
                function: table.opt(&w.function),
                location: table.opt(&w.location),
                io: w.io.clone(),
            }),
            until_ns: t.until_ns,
        })
        .collect();
    (table.strings, rows).serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Transition>, D::Error> {
    let (strings, rows) = <(Vec<String>, Vec<Row>)>::deserialize(d)?;
    let get = |id: Id| -> Result<String, D::Error> {
        strings
            .get(id as usize)
            .cloned()
            .ok_or_else(|| serde::de::Error::custom(format!("string {id} is not in the table")))
    };
    let opt = |id: Option<Id>| id.map(get).transpose();
    rows.into_iter()
        .map(|r| {
            Ok(Transition {
                event: r.event,
                time_ns: r.time_ns,
                goid: r.goid,
                state: get(r.state)?,
                thread: r.thread,
                function: opt(r.function)?,
                location: opt(r.location)?,
                woken_by: r
                    .woken_by
                    .map(|w| -> Result<Waker, D::Error> {
                        Ok(Waker {
                            goid: w.goid,
                            function: opt(w.function)?,
                            location: opt(w.location)?,
                            io: w.io,
                        })
                    })
                    .transpose()?,
                until_ns: r.until_ns,
            })
        })
        .collect()
}
