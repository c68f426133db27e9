//! How one claim of `limit` sends is shared out (issue 13, §5): equally
//! between the tenants that have due work, and within a tenant equally
//! between its campaigns, so a 1,000,000-member campaign started first
//! cannot hold back a 20-member campaign of another tenant (or of the same
//! one). The order of the tenants (and of a tenant's campaigns) is the
//! caller's: it rotates them so that, when there are more of them than
//! `limit`, each gets its turn.

/// A tenant with due work: how many more sends it may have in flight, and
/// its campaigns with due members.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tenant {
    pub room: usize,
    pub campaigns: Vec<i64>,
}

/// Shares of `limit` for `tenants`, in order: (campaign, how many it may
/// claim), leaving out campaigns with no share. A tenant's share never
/// exceeds its room.
pub fn shares(tenants: &[Tenant], limit: usize) -> Vec<(i64, usize)> {
    let mut out = Vec::new();
    let live: Vec<&Tenant> = tenants
        .iter()
        .filter(|t| t.room > 0 && !t.campaigns.is_empty())
        .collect();
    for (share, tenant) in split(limit, live.len()).zip(live) {
        let share = share.min(tenant.room);
        for (share, &campaign) in split(share, tenant.campaigns.len()).zip(&tenant.campaigns) {
            if share > 0 {
                out.push((campaign, share));
            }
        }
    }
    out
}

/// `total` cut into `parts` shares differing by at most one, the larger
/// ones first.
fn split(total: usize, parts: usize) -> impl Iterator<Item = usize> {
    let each = total.checked_div(parts).unwrap_or(0);
    let extra = total.checked_rem(parts).unwrap_or(0);
    (0..parts).map(move |i| each + usize::from(i < extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(campaigns: &[i64]) -> Tenant {
        Tenant {
            room: usize::MAX,
            campaigns: campaigns.to_vec(),
        }
    }

    #[test]
    fn tenants_share_equally_then_their_campaigns() {
        // Tenant 1 has one huge campaign, tenant 2 two small ones.
        assert_eq!(
            shares(&[t(&[10]), t(&[20, 21])], 100),
            vec![(10, 50), (20, 25), (21, 25)]
        );
        assert_eq!(shares(&[t(&[10]), t(&[20])], 5), vec![(10, 3), (20, 2)]);
    }

    #[test]
    fn more_tenants_than_sends_serves_the_first_in_turn() {
        assert_eq!(
            shares(&[t(&[1]), t(&[2]), t(&[3])], 2),
            vec![(1, 1), (2, 1)]
        );
        assert_eq!(shares(&[t(&[1, 2, 3])], 2), vec![(1, 1), (2, 1)]);
    }

    #[test]
    fn nothing_to_share_and_nobody_to_share_with() {
        assert!(shares(&[], 100).is_empty());
        assert!(shares(&[t(&[])], 100).is_empty());
        assert!(shares(&[t(&[1])], 0).is_empty());
    }

    #[test]
    fn every_send_is_handed_out() {
        for limit in 0..40 {
            let tenants = [t(&[1, 2, 3]), t(&[4]), t(&[5, 6])];
            let total: usize = shares(&tenants, limit).iter().map(|(_, n)| n).sum();
            assert_eq!(total, limit);
        }
    }

    #[test]
    fn a_tenant_gets_no_more_than_its_room() {
        let full = Tenant {
            room: 0,
            campaigns: vec![1],
        };
        let nearly = Tenant {
            room: 3,
            campaigns: vec![2],
        };
        assert_eq!(shares(&[full, nearly, t(&[3])], 100), vec![(2, 3), (3, 50)]);
    }
}
