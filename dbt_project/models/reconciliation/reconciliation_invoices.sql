{#- Generated invoices against the legacy process's (docs/billing-rules.md §9), one to one.
    The key is (customer, period start, period end, currency), and the legacy invoice's
    contract when it names one. Within a key, a legacy invoice that names a contract pairs
    with that contract's invoice; the others pair equal totals first, then in order of total (the
    closest total when the key has one generated invoice left). Every row gets one status:

    - matched / amount_mismatch: a pair, within or beyond the amount tolerance;
    - missing_in_generated / missing_in_legacy: one side has no invoice for the key;
    - duplicate_in_legacy: another legacy invoice for a key already paired (double billing):
      it is compared, not matched, and its whole total counts in the delta;
    - duplicate_legacy_invoice_id: a legacy invoice id on more than one row: every row is
      reported and none is paired (which row is the invoice cannot be told).

    The match rate is matched over every row; the total delta sums every row's delta. -#}
with settings as (

    select amount_tolerance from {{ source('raw', 'plan_settings') }}

),

invoices as (

    select * from {{ ref('int_parallel_test_invoices') }}

),

generated as (

    select
        invoice_id,
        contract_id,
        customer_id,
        period_start,
        period_end,
        currency,
        total
    from invoices
    where side = 'generated'

),

legacy_all as (

    select
        invoice_id,
        contract_id,
        customer_id,
        period_start,
        period_end,
        currency,
        total,
        count(*) over (partition by invoice_id) as id_rows,
        row_number() over (
            partition by invoice_id
            order by customer_id, period_start, period_end, currency, total, contract_id
        ) as id_copy
    from invoices
    where side = 'legacy'

),

legacy as (

    select * from legacy_all
    where id_rows = 1

),

-- a legacy invoice that names a contract of its key pairs with that contract's invoice
named_pairs as (

    select
        legacy.invoice_id as legacy_invoice_id,
        generated.invoice_id,
        row_number() over (
            partition by generated.invoice_id
            order by abs(generated.total - legacy.total), legacy.invoice_id
        ) as pair_rank
    from legacy
    inner join generated
        on legacy.customer_id = generated.customer_id
            and legacy.period_start = generated.period_start
            and legacy.period_end = generated.period_end
            and legacy.currency = generated.currency
            and legacy.contract_id = generated.contract_id

),

named as (

    select
        legacy_invoice_id,
        invoice_id
    from named_pairs
    where pair_rank = 1

),

generated_left as (

    select generated.*
    from generated
    where generated.invoice_id not in (select named.invoice_id from named)

),

-- the legacy invoices a generated invoice of their key may take in order: those that name no
-- contract (one that names a contract is for that contract's invoice alone, §9.2: named
-- above, else a second bill for it, else its contract's invoice is missing)
legacy_left as (

    select legacy.*
    from legacy
    where legacy.invoice_id not in (select named.legacy_invoice_id from named)
        and legacy.contract_id is null

),

-- a legacy invoice for a contract whose invoice is already paired is a second bill
second_bills as (

    select legacy.invoice_id
    from legacy
    where legacy.invoice_id not in (select named.legacy_invoice_id from named)
        and exists (
            select 1 from named
            inner join generated on named.invoice_id = generated.invoice_id
            where legacy.contract_id = generated.contract_id
                and legacy.customer_id = generated.customer_id
                and legacy.period_start = generated.period_start
                and legacy.period_end = generated.period_end
                and legacy.currency = generated.currency
        )

),

-- §9.3.2: equal totals pair first (the k-th generated invoice of a total with the k-th legacy
-- invoice of it), so a pair is never reported as a mismatch only for the order it came in
generated_by_total as (

    select
        generated_left.invoice_id,
        generated_left.customer_id,
        generated_left.period_start,
        generated_left.period_end,
        generated_left.currency,
        generated_left.total,
        row_number() over (
            partition by
                generated_left.customer_id, generated_left.period_start,
                generated_left.period_end, generated_left.currency, generated_left.total
            order by generated_left.contract_id, generated_left.invoice_id
        ) as total_rank
    from generated_left

),

legacy_by_total as (

    select
        legacy_left.invoice_id,
        legacy_left.customer_id,
        legacy_left.period_start,
        legacy_left.period_end,
        legacy_left.currency,
        legacy_left.total,
        row_number() over (
            partition by
                legacy_left.customer_id, legacy_left.period_start,
                legacy_left.period_end, legacy_left.currency, legacy_left.total
            order by legacy_left.invoice_id
        ) as total_rank
    from legacy_left
    where legacy_left.total is not null

),

equal_pairs as (

    select
        legacy_by_total.invoice_id as legacy_invoice_id,
        generated_by_total.invoice_id
    from legacy_by_total
    inner join generated_by_total
        on legacy_by_total.customer_id = generated_by_total.customer_id
            and legacy_by_total.period_start = generated_by_total.period_start
            and legacy_by_total.period_end = generated_by_total.period_end
            and legacy_by_total.currency = generated_by_total.currency
            and legacy_by_total.total = generated_by_total.total
            and legacy_by_total.total_rank = generated_by_total.total_rank

),

-- the rest pair in order of total (the pairing with the smallest sum of differences); a key
-- left with one generated invoice gives it the closest legacy total
generated_ranked as (

    select
        generated_left.*,
        count(*) over (
            partition by
                generated_left.customer_id, generated_left.period_start,
                generated_left.period_end, generated_left.currency
        ) as left_in_key,
        row_number() over (
            partition by
                generated_left.customer_id, generated_left.period_start,
                generated_left.period_end, generated_left.currency
            order by generated_left.total, generated_left.contract_id, generated_left.invoice_id
        ) as pair_rank
    from generated_left
    where generated_left.invoice_id not in (select equal_pairs.invoice_id from equal_pairs)

),

legacy_ranked as (

    select
        legacy_left.*,
        row_number() over (
            partition by
                legacy_left.customer_id, legacy_left.period_start,
                legacy_left.period_end, legacy_left.currency
            order by
                -- an unreadable total (null) is closest to nothing
                case when legacy_left.total is null then 1 else 0 end,
                abs(legacy_left.total - coalesce(single.total, legacy_left.total)),
                legacy_left.total,
                legacy_left.invoice_id
        ) as pair_rank
    from legacy_left
    left join generated_ranked as single
        on legacy_left.customer_id = single.customer_id
            and legacy_left.period_start = single.period_start
            and legacy_left.period_end = single.period_end
            and legacy_left.currency = single.currency
            and single.left_in_key = 1
    where legacy_left.invoice_id not in (select equal_pairs.legacy_invoice_id from equal_pairs)

),

ranked_pairs as (

    select
        legacy_ranked.invoice_id as legacy_invoice_id,
        generated_ranked.invoice_id,
        coalesce(generated_ranked.customer_id, legacy_ranked.customer_id) as customer_id,
        coalesce(generated_ranked.period_start, legacy_ranked.period_start) as period_start,
        coalesce(generated_ranked.period_end, legacy_ranked.period_end) as period_end,
        coalesce(generated_ranked.currency, legacy_ranked.currency) as currency
    from legacy_ranked
    full outer join generated_ranked
        on legacy_ranked.customer_id = generated_ranked.customer_id
            and legacy_ranked.period_start = generated_ranked.period_start
            and legacy_ranked.period_end = generated_ranked.period_end
            and legacy_ranked.currency = generated_ranked.currency
            and legacy_ranked.pair_rank = generated_ranked.pair_rank

),

keys_paired as (

    select distinct
        customer_id,
        period_start,
        period_end,
        currency
    from ranked_pairs
    where legacy_invoice_id is not null and invoice_id is not null
    union
    select distinct
        generated.customer_id,
        generated.period_start,
        generated.period_end,
        generated.currency
    from named inner join generated on named.invoice_id = generated.invoice_id
    union
    select distinct
        generated.customer_id,
        generated.period_start,
        generated.period_end,
        generated.currency
    from equal_pairs inner join generated on equal_pairs.invoice_id = generated.invoice_id

),

rows_all as (

    select
        legacy_invoice_id,
        invoice_id,
        1 as id_copy,
        'pair' as kind
    from named
    union all
    select
        legacy_invoice_id,
        invoice_id,
        1 as id_copy,
        'pair' as kind
    from equal_pairs
    union all
    select
        legacy_invoice_id,
        invoice_id,
        1 as id_copy,
        'pair' as kind
    from ranked_pairs
    union all
    -- the legacy invoices left out of the pairing: a second bill for a paired contract, or
    -- one naming a contract that has no generated invoice in its key
    select
        legacy.invoice_id as legacy_invoice_id,
        cast(null as {{ dbt.type_string() }}) as invoice_id,
        1 as id_copy,
        case
            when legacy.invoice_id in (select second_bills.invoice_id from second_bills)
                then 'second_bill'
            else 'contract_not_generated'
        end as kind
    from legacy
    where legacy.invoice_id not in (select named.legacy_invoice_id from named)
        and legacy.invoice_id not in (select legacy_left.invoice_id from legacy_left)
    union all
    select
        invoice_id as legacy_invoice_id,
        cast(null as {{ dbt.type_string() }}) as invoice_id,
        id_copy,
        'repeated_id' as kind
    from legacy_all
    where id_rows > 1

),

joined as (

    select
        coalesce(generated.customer_id, legacy_all.customer_id) as customer_id,
        coalesce(generated.period_start, legacy_all.period_start) as period_start,
        coalesce(generated.period_end, legacy_all.period_end) as period_end,
        coalesce(generated.currency, legacy_all.currency) as currency,
        rows_all.legacy_invoice_id,
        rows_all.invoice_id,
        coalesce(legacy_all.contract_id, generated.contract_id) as contract_id,
        legacy_all.total as legacy_total,
        generated.total as generated_total,
        coalesce(generated.total, 0) - coalesce(legacy_all.total, 0) as delta,
        rows_all.kind
    from rows_all
    left join generated on rows_all.invoice_id = generated.invoice_id
    left join legacy_all
        on rows_all.legacy_invoice_id = legacy_all.invoice_id
            and rows_all.id_copy = legacy_all.id_copy

),

deduplicated as (

    select * from joined

),

final as (

    select
        deduplicated.customer_id,
        deduplicated.period_start,
        deduplicated.period_end,
        deduplicated.currency,
        deduplicated.legacy_invoice_id,
        deduplicated.invoice_id,
        deduplicated.contract_id,
        deduplicated.legacy_total,
        deduplicated.generated_total,
        deduplicated.delta,
        case
            when deduplicated.kind = 'repeated_id' then 'duplicate_legacy_invoice_id'
            when deduplicated.kind = 'second_bill' then 'duplicate_in_legacy'
            when deduplicated.kind = 'contract_not_generated' then 'missing_in_generated'
            when deduplicated.invoice_id is null
                and exists (
                    select 1 from keys_paired
                    where keys_paired.customer_id = deduplicated.customer_id
                        and keys_paired.period_start = deduplicated.period_start
                        and keys_paired.period_end = deduplicated.period_end
                        and keys_paired.currency = deduplicated.currency
                )
                then 'duplicate_in_legacy'
            when deduplicated.invoice_id is null then 'missing_in_generated'
            when deduplicated.legacy_invoice_id is null then 'missing_in_legacy'
            -- an unreadable legacy total (§10.2) is compared with nothing, never matched
            when deduplicated.legacy_total is null then 'amount_mismatch'
            when abs(deduplicated.delta) <= coalesce(
                    settings.amount_tolerance, {{ golive.minor_unit_amount('currencies.minor_unit') }}
                )
                then 'matched'
            else 'amount_mismatch'
        end as status
    from deduplicated
    cross join settings
    left join {{ source('raw', 'currencies') }} as currencies
        on deduplicated.currency = currencies.currency

)

select * from final
