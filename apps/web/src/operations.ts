// Every operation the console sends, typed by GraphQL Code Generator from apps/gateway/schema.graphql
// (`npm run generate`): an operation that no longer fits the schema fails the generate step.
import { graphql } from "./generated";

export const CheckKey = graphql(`
  query CheckKey {
    batches(first: 1) { edges { cursor } }
  }
`);

export const CreateBatch = graphql(`
  mutation CreateBatch($input: CreateBatchInput!) {
    createBatch(input: $input) { id name }
  }
`);

export const RequestUploads = graphql(`
  mutation RequestUploads($batchId: ID!, $files: [FileInput!]!) {
    requestUploads(batchId: $batchId, files: $files) {
      name status documentId documentName code message
      target { url fields { name value } }
    }
  }
`);

export const StartMultipartUpload = graphql(`
  mutation StartMultipartUpload($id: ID!, $partSize: Int, $u: String) {
    startMultipartUpload(documentId: $id, partSize: $partSize, uploadId: $u) {
      uploadId partSize parts { partNumber url }
    }
  }
`);

export const CompleteMultipartUpload = graphql(`
  mutation CompleteMultipartUpload($id: ID!, $u: String!, $parts: [PartInput!]!) {
    completeMultipartUpload(documentId: $id, uploadId: $u, parts: $parts)
  }
`);

export const CompleteUploads = graphql(`
  mutation CompleteUploads($ids: [ID!]!) {
    completeUploads(documentIds: $ids) { documentId status message }
  }
`);

export const BatchFields = graphql(`
  fragment BatchFields on Batch {
    id name createdAt finished lastEventSeq
    counts { total pendingUpload queued processing completed failed needsReview done }
    stages { parse understand embed index }
  }
`);

export const Batches = graphql(`
  query Batches($first: Int, $after: String) {
    batches(first: $first, after: $after) {
      edges { node { ...BatchFields } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const BatchDetail = graphql(`
  query BatchDetail($id: ID!) {
    batch(id: $id) { ...BatchFields }
    quarantine(batchId: $id, sample: 5) { code count documents { id name errorMessage } }
  }
`);

export const BatchProgressSub = graphql(`
  subscription BatchProgress($id: ID!, $after: Int) {
    batchProgress(id: $id, after: $after) {
      cursor finished documentsPerMinute etaSeconds
      counts { total pendingUpload queued processing completed failed needsReview done }
      stages { parse understand embed index }
      events { seq kind documentId stage status code message createdAt }
    }
  }
`);

export const RetryBatch = graphql(`
  mutation RetryBatch($id: ID!) {
    retryBatch(batchId: $id)
  }
`);

export const Documents = graphql(`
  query Documents($first: Int, $after: String, $filter: DocumentFilter) {
    documents(first: $first, after: $after, filter: $filter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        node { id name status stage category confidence needsReview createdAt size errorCode batch { id name } }
      }
    }
  }
`);

export const DocumentFields = graphql(`
  fragment DocumentFields on Document {
    id name status stage category categoryVersion confidence needsReview createdAt completedAt correctedAt
    size contentType detectedType pageCount errorCode errorMessage text provenance model
    downloadUrl thumbnailUrl
    batch { id name }
    fields { name value raw kind confidence source page box currency }
  }
`);

export const DocumentDetail = graphql(`
  query DocumentDetail($id: ID!) {
    document(id: $id) { ...DocumentFields }
    categories { name fields }
  }
`);

export const DocumentEvents = graphql(`
  subscription DocumentEvents($id: ID!) {
    documentProgress(id: $id, after: 0) {
      cursor
      event { seq kind stage status code message createdAt }
    }
  }
`);

export const CorrectDocument = graphql(`
  mutation CorrectDocument($id: ID!, $category: String, $fields: [FieldCorrection!]) {
    correctDocument(id: $id, category: $category, fields: $fields) { ...DocumentFields }
  }
`);

export const Search = graphql(`
  query Search(
    $query: String!, $mode: SearchMode, $first: Int, $after: String, $facets: [String!], $filter: SearchFilter
  ) {
    search(query: $query, mode: $mode, first: $first, after: $after, facets: $facets, filter: $filter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      facets { field buckets { value count } }
      edges { cursor node { score highlights document { id name category createdAt } } }
    }
  }
`);

export const Similar = graphql(`
  query Similar($id: ID!) {
    similar(documentId: $id, first: 5) {
      edges { node { score document { id name category } } }
    }
  }
`);

export const Categories = graphql(`
  query Categories {
    categories { name description keywords fields version updatedAt }
  }
`);

export const DefineCategory = graphql(`
  mutation DefineCategory($input: CategoryInput!) {
    defineCategory(input: $input) { name version }
  }
`);

export const UpdateCategory = graphql(`
  mutation UpdateCategory($name: String!, $change: CategoryChange!) {
    updateCategory(name: $name, change: $change) { name version }
  }
`);
