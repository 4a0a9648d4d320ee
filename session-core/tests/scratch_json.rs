#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
use base64::Engine as _;
use std::time::Instant;

#[tokio::test]
async fn scratch() {
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
    let (v,): (String,) = sqlx::query_as("select sqlite_version()").fetch_one(&pool).await.unwrap();
    println!("sqlite {v}");
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("create table s (k text primary key, e text, b blob, j blob)").execute(&mut *conn).await.unwrap();
    for n in [5usize, 50] {
        let val = |i: usize| base64::engine::general_purpose::STANDARD.encode(vec![i as u8; 150]);
        let mut txt = String::from("{");
        for i in 0..n {
            if i > 0 {
                txt.push(',');
            }
            txt.push_str(&format!("\"field_{i:02}\":\"{}\"", val(i)));
        }
        txt.push('}');
        sqlx::query("insert or replace into s values ('a', ?, ?, jsonb(?))")
            .bind(&txt)
            .bind(txt.as_bytes())
            .bind(&txt)
            .execute(&mut *conn)
            .await
            .unwrap();
        let patch = format!("{{\"field_03\":\"{}\"}}", val(99));
        for (name, sql) in [
            ("json_patch text", "update s set e = json_patch(e, ?1) where k='a'"),
            ("jsonb_patch blob", "update s set j = jsonb_patch(j, ?1) where k='a'"),
            ("plain blob", "update s set b = ?1 where k='a'"),
            ("noop", "select ?1"),
        ] {
            let arg: Vec<u8> = if name == "plain blob" { txt.as_bytes().to_vec() } else { patch.as_bytes().to_vec() };
            let argt = String::from_utf8(arg).unwrap();
            let mut best = f64::MAX;
            for _ in 0..5 {
                let iters = 300;
                let t = Instant::now();
                for _ in 0..iters {
                    sqlx::query(sql).bind(&argt).execute(&mut *conn).await.unwrap();
                }
                best = best.min(t.elapsed().as_secs_f64() / iters as f64);
            }
            println!("{n} fields ({} chars): {name}: {:.1} us", txt.len(), best * 1e6);
        }
        for (name, sql) in [
            ("read text", "select e from s where k='a'"),
            ("read json(jsonb)", "select json(j) from s where k='a'"),
            ("read checked json(jsonb)", "select case when json_valid(j, 8) then json(j) end from s where k='a'"),
        ] {
            let mut best = f64::MAX;
            for _ in 0..5 {
                let iters = 300;
                let t = Instant::now();
                for _ in 0..iters {
                    let _: Option<(String,)> = sqlx::query_as(sql).fetch_optional(&mut *conn).await.unwrap();
                }
                best = best.min(t.elapsed().as_secs_f64() / iters as f64);
            }
            println!("{n} fields: {name}: {:.1} us", best * 1e6);
        }
    }
}
