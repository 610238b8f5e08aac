//! A ticket's status and priority, defined once: the same names as the
//! table's CHECK constraints, parsed from text (`FromStr`, serde) and bound
//! to SQL as text.

use std::error::Error;
use std::fmt;
use std::str::FromStr;

use orgjobs_queue::tokio_postgres::types::{FromSql, IsNull, ToSql, Type, accepts, to_sql_checked};

/// A value that is not one of a field's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?} is not one of {expected}")]
pub struct UnknownValue {
    /// The field (`status`, `priority`).
    pub field: &'static str,
    /// What was given.
    pub value: String,
    /// The names allowed, joined with ", ".
    pub expected: String,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, default $default:ident, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in the table's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in the table.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Every name, joined with ", " (for messages).
            pub fn names() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        field: $field,
                        value: s.to_owned(),
                        expected: Self::names(),
                    }),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(
                &self,
                ty: &Type,
                out: &mut bytes::BytesMut,
            ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
                self.as_str().to_sql(ty, out)
            }
            accepts!(TEXT, VARCHAR);
            to_sql_checked!();
        }

        impl<'a> FromSql<'a> for $name {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
                Ok(<&str as FromSql>::from_sql(ty, raw)?.parse()?)
            }
            accepts!(TEXT, VARCHAR);
        }
    };
}

text_enum!(
    /// Where a ticket stands.
    Status, "status", default New, {
        /// Just arrived.
        New => "new",
        /// Being worked on.
        Open => "open",
        /// Waiting for the requester.
        Pending => "pending",
        /// Answered.
        Resolved => "resolved",
        /// Done for good.
        Closed => "closed",
    }
);

text_enum!(
    /// How urgent a ticket is.
    Priority, "priority", default Normal, {
        /// Whenever.
        Low => "low",
        /// The default.
        Normal => "normal",
        /// Soon.
        High => "high",
        /// Now.
        Urgent => "urgent",
    }
);

impl Status {
    /// The statuses of a ticket that still waits for the support team.
    pub const OPEN: &'static [Status] = &[Status::New, Status::Open, Status::Pending];

    /// Whether the ticket still waits for the support team.
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// [`Status::OPEN`]'s names, for binding as a `text[]` (`status =
    /// ANY($n)`).
    pub fn open_names() -> Vec<&'static str> {
        Self::OPEN.iter().map(|s| s.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_say_what_is_allowed() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(*s));
        }
        for p in Priority::ALL {
            assert_eq!(p.to_string().parse::<Priority>(), Ok(*p));
        }
        let err = "asap".parse::<Priority>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "priority \"asap\" is not one of low, normal, high, urgent"
        );
        assert_eq!(Priority::default(), Priority::Normal);
        assert_eq!(Status::default(), Status::New);
        assert!(Status::Pending.is_open() && !Status::Resolved.is_open());
    }

    /// The names are the table's CHECK constraints' (migration 0001).
    #[test]
    fn names_match_the_check_constraints() {
        let sql = include_str!("../migrations/0001_helpdesk.sql");
        let list = |v: Vec<&str>| {
            v.iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let statuses = list(Status::ALL.iter().map(|s| s.as_str()).collect());
        let priorities = list(Priority::ALL.iter().map(|p| p.as_str()).collect());
        assert!(
            sql.contains(&format!("status IN ({statuses})")),
            "{statuses}"
        );
        assert!(
            sql.contains(&format!("priority IN ({priorities})")),
            "{priorities}"
        );
    }
}
