namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>The API group and version every Tollgate custom resource belongs to.</summary>
public static class ApiGroup
{
    public const string Name = "tollgate.io";
    public const string Version = "v1alpha1";
    public const string ApiVersion = Name + "/" + Version;
}
