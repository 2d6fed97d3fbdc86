//! Reading the database's own description of a table (for `edgeauth doctor`): its columns,
//! their declared types, nullability and defaults. PostgreSQL's `information_schema` in the
//! connection's current schema; SQLite's `pragma_table_info`.

use super::{on_pool, Db, DbError, Pool};

/// One column as the database declares it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DbColumn {
    /// Its name, exactly.
    pub name: String,
    /// Its declared type: PostgreSQL's `data_type` (`text`, `timestamp with time zone`, ...),
    /// SQLite's declared type as written (`text`, `date`, `integer`, ...), lower-cased.
    pub data_type: String,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Whether the database fills it when an insert leaves it out (a default, an identity or
    /// serial, SQLite's integer primary key).
    pub has_default: bool,
}

type Row = (String, String, bool, bool);

impl Db {
    /// The columns of `table` in declaration order, or `None` when there is no such table.
    pub async fn describe_table(&self, table: &str) -> Result<Option<Vec<DbColumn>>, DbError> {
        let rows: Vec<Row> = match &self.pool {
            Pool::Postgres(_) => on_pool!(self, pool => sqlx::query_as(
                r#"SELECT column_name::text, data_type::text, is_nullable = 'NO',
                          column_default IS NOT NULL OR is_identity = 'YES'
                   FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = $1
                   ORDER BY ordinal_position"#,
            )
            .bind(table)
            .fetch_all(pool)
            .await)?,
            Pool::Sqlite(_) => on_pool!(self, pool => sqlx::query_as(
                r#"SELECT "name", lower("type"), "notnull" != 0,
                          "dflt_value" IS NOT NULL OR ("pk" = 1 AND lower("type") = 'integer')
                   FROM pragma_table_info($1)
                   ORDER BY "cid""#,
            )
            .bind(table)
            .fetch_all(pool)
            .await)?,
        };
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            rows.into_iter()
                .map(|(name, data_type, not_null, has_default)| DbColumn {
                    name,
                    data_type: data_type.to_ascii_lowercase(),
                    not_null,
                    has_default,
                })
                .collect(),
        ))
    }
}
