{#- The double entry each invoice posts on approval (docs/billing-rules.md §8): Dr accounts
    receivable = total; Cr revenue per product line (deferred revenue for lines billed in advance);
    the contract discount as a debit to revenue, the true-up as revenue; Cr sales tax payable = tax;
    Dr customer prepaid balance = credits applied. Rows of zero are left out. Then the entries
    that release deferred revenue (docs/accounting.md): per invoice and recognition date, Dr
    deferred revenue, Cr revenue. journal_id names the entry a row belongs to (the invoice's
    posting, or one recognition date of it): every entry balances on its own. -#}
with invoices as (

    select * from {{ ref('int_invoices_computed') }}

),

lines as (

    select * from {{ ref('invoice_lines') }}

),

postings as (

    select
        invoice_id,
        1 as sort_key,
        'accounts_receivable' as account,
        total as debit,
        {{ golive.to_decimal('0') }} as credit
    from invoices
    union all
    select
        invoice_id,
        10 + line_no as sort_key,
        case
            when line_kind = 'product' and billing_timing = 'advance' then 'deferred_revenue'
            when line_kind = 'prepaid_credit_applied' then 'customer_prepaid_balance'
            else 'revenue'
        end as account,
        case when amount < 0 then -amount else 0 end as debit,
        case when amount > 0 then amount else 0 end as credit
    from lines
    union all
    select
        invoice_id,
        9999 as sort_key,
        'sales_tax_payable' as account,
        {{ golive.to_decimal('0') }} as debit,
        tax as credit
    from invoices

),

invoice_postings as (

    select
        {{ dbt.concat([
            "postings.invoice_id", "'-'",
            "cast(row_number() over (partition by postings.invoice_id order by postings.sort_key)"
            ~ " as " ~ dbt.type_string() ~ ")"
        ]) }} as entry_id,
        postings.invoice_id,
        invoices.period_end as entry_date,
        postings.account,
        cast(postings.debit as {{ golive.decimal_type() }}) as debit,
        cast(postings.credit as {{ golive.decimal_type() }}) as credit,
        invoices.currency,
        postings.invoice_id as journal_id,
        'invoice' as posting
    from postings
    inner join invoices on postings.invoice_id = invoices.invoice_id
    where postings.debit <> 0 or postings.credit <> 0

),

recognitions as (

    select
        invoice_id,
        recognition_date,
        currency,
        {{ dbt.concat([
            "invoice_id", "'-R'",
            "replace(cast(recognition_date as " ~ dbt.type_string() ~ "), '-', '')"
        ]) }} as journal_id,
        sum(amount) as amount
    from {{ ref('revenue_recognition') }}
    group by invoice_id, recognition_date, currency

),

-- a negative release (none is built today) would post on the opposite sides
recognition_postings as (

    select
        {{ dbt.concat(["journal_id", "'-1'"]) }} as entry_id,
        invoice_id,
        recognition_date as entry_date,
        'deferred_revenue' as account,
        cast(case when amount > 0 then amount else 0 end as {{ golive.decimal_type() }}) as debit,
        cast(case when amount < 0 then -amount else 0 end as {{ golive.decimal_type() }}) as credit,
        currency,
        journal_id,
        'revenue_recognition' as posting
    from recognitions
    where amount <> 0
    union all
    select
        {{ dbt.concat(["journal_id", "'-2'"]) }} as entry_id,
        invoice_id,
        recognition_date as entry_date,
        'revenue' as account,
        cast(case when amount < 0 then -amount else 0 end as {{ golive.decimal_type() }}) as debit,
        cast(case when amount > 0 then amount else 0 end as {{ golive.decimal_type() }}) as credit,
        currency,
        journal_id,
        'revenue_recognition' as posting
    from recognitions
    where amount <> 0

),

final as (

    select * from invoice_postings
    union all
    select * from recognition_postings

)

select * from final
