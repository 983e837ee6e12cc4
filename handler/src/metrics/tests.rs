use super::*;

#[test]
fn metrics_are_on_unless_turned_off() {
    assert!(enabled_from(None));
    assert!(enabled_from(Some("on")));
    assert!(enabled_from(Some("")));
    for off in ["off", "OFF", "false", "0", "no"] {
        assert!(!enabled_from(Some(off)), "{off}");
    }
    assert_eq!(namespace_from(None), "Jobs");
    assert_eq!(namespace_from(Some("  ")), "Jobs");
    assert_eq!(namespace_from(Some("Shop/Jobs")), "Shop/Jobs");
}

#[test]
fn a_take_empties_the_tallies() {
    let metrics = JobMetrics::new("Jobs");
    metrics.record("q", "mail", "done", 12.0);
    metrics.record("q", "mail", "done", 8.0);
    metrics.record("q", "mail", "retry", 30.0);
    let taken = metrics.take();
    assert_eq!(taken.len(), 2);
    let done = &taken[&Key {
        queue: "q".into(),
        kind: "mail".into(),
        outcome: "done",
    }];
    assert_eq!(
        (done.count(), done.sum(), done.min(), done.max()),
        (2, 20.0, 8.0, 12.0)
    );
    assert!(metrics.take().is_empty());
    let mut out = Vec::new();
    metrics.write_emf(&mut out, 1).unwrap();
    assert!(out.is_empty(), "nothing counted, nothing written");
}

#[cfg(feature = "cloudwatch")]
#[test]
fn put_metric_data_gets_counts_statistic_sets_and_per_queue_counts() {
    let metrics = JobMetrics::new("Jobs");
    metrics.record("q", "mail", "done", 12.0);
    metrics.record("q", "upload", "done", 4.0);
    metrics.record("q", "upload", "done", 6.0);
    let data = cloudwatch::metric_data(&metrics.take(), std::time::SystemTime::now());
    // Per kind: a count and a duration each; per queue: one count.
    assert_eq!(data.len(), 5);
    let per_queue: Vec<_> = data.iter().filter(|d| d.dimensions().len() == 2).collect();
    assert_eq!(per_queue.len(), 1);
    assert_eq!(per_queue[0].value(), Some(3.0));
    let upload_duration = data
        .iter()
        .find(|d| {
            d.metric_name() == Some(name::DURATION)
                && d.dimensions().iter().any(|x| x.value() == Some("upload"))
        })
        .and_then(|d| d.statistic_values())
        .expect("a statistic set");
    assert_eq!(upload_duration.sample_count(), Some(2.0));
    assert_eq!(upload_duration.sum(), Some(10.0));
    assert_eq!(upload_duration.minimum(), Some(4.0));
    assert_eq!(upload_duration.maximum(), Some(6.0));
}
