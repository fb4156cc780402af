using Tollgate.Core.Budgets;
using Tollgate.Core.Matching;

namespace Tollgate.Core.Policy;

/// <summary>
/// Admission against a whole policy: the snapshot picks the matching budgets and <see cref="BudgetGuard"/> reserves
/// them. It lives here, not on the guard, so that budgets do not depend on the policy that is compiled from them.
/// </summary>
public static class PolicyAdmission
{
    public static ValueTask<BudgetAdmission> AdmitAsync(
        this BudgetGuard guard, PolicySnapshot policy, RequestContext request, string requestId, BudgetEstimate estimate, CancellationToken cancellationToken) =>
        guard.AdmitAsync(policy.Matching(request), request, requestId, estimate, cancellationToken);

    /// <param name="estimate">Called only when a budget matches: tokenizing the prompt is the costliest step of admission.</param>
    public static ValueTask<BudgetAdmission> AdmitAsync(
        this BudgetGuard guard, PolicySnapshot policy, RequestContext request, string requestId, Func<BudgetEstimate> estimate, CancellationToken cancellationToken) =>
        guard.AdmitAsync(policy.Matching(request), request, requestId, estimate, cancellationToken);
}
