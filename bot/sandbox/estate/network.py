"""Seeds the estate's request path in moto: VPC, security groups, instances, ALB, ECS and Route 53.

Owns `seed_network`, `seed_ecs` and `seed_route53`, called by `seed_estate`. Moto simplifies AWS in
ways these work around, said where it happens: registered targets are always `healthy`, and an ECS
service reports the desired count at once.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.estate.names import (
    ACCOUNT_ID,
    API,
    NAME,
    REGION,
    TASK_REVISIONS,
    ZONE,
    Clients,
)

_FAKE_AMI = "ami-12c6146b"  # one of the images moto loads by default


def seed_network(client: Clients) -> dict[str, Any]:
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": NAME}])
    subnet_ids = tuple(
        ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{az}"
        )["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    )
    alb_sg = ec2.create_security_group(
        GroupName="bodyscript-alb", Description="BodyScript ALB", VpcId=vpc_id
    )["GroupId"]
    api_sg = ec2.create_security_group(
        GroupName=API, Description="BodyScript API tasks", VpcId=vpc_id
    )["GroupId"]
    https = dict(IpProtocol="tcp", FromPort=443, ToPort=443)
    ec2.authorize_security_group_ingress(
        GroupId=alb_sg, IpPermissions=[{**https, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    app = dict(IpProtocol="tcp", FromPort=8000, ToPort=8000)
    ec2.authorize_security_group_ingress(
        GroupId=api_sg,
        IpPermissions=[{**app, "UserIdGroupPairs": [{"GroupId": alb_sg}]}],
    )
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "NetworkAcls"
    ]
    instances = ec2.run_instances(
        ImageId=_FAKE_AMI,
        MinCount=2,
        MaxCount=2,
        InstanceType="t3.medium",
        SubnetId=subnet_ids[0],
        SecurityGroupIds=[api_sg],
    )["Instances"]
    instance_ids = tuple(i["InstanceId"] for i in instances)

    elb = client("elbv2")
    lb = elb.create_load_balancer(
        Name="bodyscript-alb",
        Subnets=list(subnet_ids),
        SecurityGroups=[alb_sg],
        Type="application",
        Scheme="internet-facing",
    )["LoadBalancers"][0]
    tg_arn = elb.create_target_group(
        Name=API,
        Protocol="HTTP",
        Port=8000,
        VpcId=vpc_id,
        TargetType="instance",
        HealthCheckPath="/api/health",
    )["TargetGroups"][0]["TargetGroupArn"]
    # Moto reports registered running instances as `healthy`; it cannot produce `unhealthy`.
    elb.register_targets(
        TargetGroupArn=tg_arn, Targets=[{"Id": i, "Port": 8000} for i in instance_ids]
    )
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )
    return dict(
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        security_group_id=api_sg,
        alb_security_group_id=alb_sg,
        network_acl_id=acls[0]["NetworkAclId"],
        instance_ids=instance_ids,
        load_balancer_arn=lb["LoadBalancerArn"],
        alb_dns=lb["DNSName"],
        target_group_arn=tg_arn,
    )


def seed_ecs(client: Clients, network: dict[str, Any]) -> dict[str, Any]:
    ecs = client("ecs")
    cluster_arn = ecs.create_cluster(clusterName=NAME)["cluster"]["clusterArn"]
    arns: dict[int, str] = {}
    # Moto numbers revisions from 1, so the family is registered up to 41 and the old ones
    # deregistered (INACTIVE), as a long-lived service's family would be.
    for revision in range(1, TASK_REVISIONS[-1] + 1):
        image = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{API}:build-{revision}"
        container = dict(
            name=API,
            image=image,
            essential=True,
            portMappings=[{"containerPort": 8000}],
        )
        arn = ecs.register_task_definition(
            family=API,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="512",
            memory="1024",
            containerDefinitions=[container],
        )["taskDefinition"]["taskDefinitionArn"]
        if revision in TASK_REVISIONS:
            arns[revision] = arn
        else:
            ecs.deregister_task_definition(taskDefinition=arn)
    target = dict(
        targetGroupArn=network["target_group_arn"],
        containerName=API,
        containerPort=8000,
    )
    vpc = dict(
        subnets=list(network["subnet_ids"]),
        securityGroups=[network["security_group_id"]],
    )
    service_arn = ecs.create_service(
        cluster=NAME,
        serviceName=API,
        taskDefinition=arns[TASK_REVISIONS[-1]],
        desiredCount=3,
        launchType="FARGATE",
        loadBalancers=[target],
        networkConfiguration={"awsvpcConfiguration": vpc},
    )["service"]["serviceArn"]
    # Moto leaves a new service at running=0 until an update, then jumps to the desired count
    # (no gradual rollout), so one update makes the healthy steady state of 3 running tasks.
    ecs.update_service(cluster=NAME, service=API, desiredCount=3)
    return dict(
        cluster_arn=cluster_arn, service_arn=service_arn, task_definition_arns=arns
    )


def seed_route53(client: Clients, network: dict[str, Any]) -> dict[str, Any]:
    r53 = client("route53")
    zone_id = r53.create_hosted_zone(Name=ZONE, CallerReference="warroom-estate")[
        "HostedZone"
    ]["Id"].split("/")[-1]
    record = f"api.{ZONE}"
    record_set = dict(
        Name=record,
        Type="CNAME",
        TTL=60,
        ResourceRecords=[{"Value": network["alb_dns"]}],
    )
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": record_set}]
        },
    )
    return {"hosted_zone_id": zone_id, "record_name": record}
