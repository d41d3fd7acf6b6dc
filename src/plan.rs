//! Plans: their names and what follows from them. A user is on `pro` while a subscription is
//! active and its period has not ended (or an operator set it); every other plan has the free
//! daily quota of vision calls.

/// The plan of every user without a paid one.
pub const FREE: &str = "free";
/// The paid plan: unlimited vision calls.
pub const PRO: &str = "pro";

/// The daily quota of vision calls on `plan`: `None` (unlimited) for `pro`, the free limit
/// (`plans.free.daily_ocr_limit`) for every other plan, an operator's own included.
pub fn daily_limit(plan: &str, free_limit: u32) -> Option<u32> {
    (plan != PRO).then_some(free_limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pro_is_unlimited() {
        assert_eq!(daily_limit(PRO, 20), None);
        assert_eq!(daily_limit(FREE, 20), Some(20));
        assert_eq!(daily_limit("team", 20), Some(20));
    }
}
