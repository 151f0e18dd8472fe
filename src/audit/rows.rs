//! Row-wise reading of string columns of a dataframe, for writers that stream rows out.

use polars::prelude::*;

use crate::error::{FrameContext, Result};

/// The chosen string columns of a frame, readable row by row without copying the frame.
pub struct StringRows<'a> {
    columns: Vec<&'a StringChunked>,
    height: usize,
}

impl<'a> StringRows<'a> {
    pub fn new(frame: &'a DataFrame, names: &[&str]) -> Result<Self> {
        let columns = names
            .iter()
            .map(|name| {
                frame
                    .column(name)
                    .frame("reading a report column")?
                    .str()
                    .frame("reading a report column")
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(StringRows {
            columns,
            height: frame.height(),
        })
    }

    pub fn len(&self) -> usize {
        self.height
    }

    pub fn is_empty(&self) -> bool {
        self.height == 0
    }

    /// Iterates rows as `Vec<&str>` (null as empty), in frame order.
    pub fn iter(&self) -> impl Iterator<Item = Vec<&'a str>> + '_ {
        let mut iterators: Vec<_> = self.columns.iter().map(|c| c.iter()).collect();
        (0..self.height).map(move |_| {
            iterators
                .iter_mut()
                .map(|it| it.next().flatten().unwrap_or(""))
                .collect()
        })
    }
}
